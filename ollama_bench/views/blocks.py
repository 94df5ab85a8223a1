"""What a terminal renderer prints, caught as data: paragraphs and tables of rich Text.

The Markdown export and the HTML report show "the same tables the terminal shows" by running the
terminal's own render function against a console that keeps what it is given instead of drawing
it. Renderers make their input printable first (untrusted.py), so reading their markup back
gives the text a terminal would show, styles and all; each exporter then escapes it for its own
format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

#: rich styles an exporter may keep (as a CSS class, say); any other style is dropped.
STYLES = ("green", "red", "yellow", "dim", "bold")


@dataclass(frozen=True)
class Paragraph:
    text: Text


@dataclass(frozen=True)
class TableBlock:
    title: Text | None
    headers: list[Text]
    right: list[bool]  # per column: right-aligned (numbers)
    rows: list[list[Text]]


Block = Paragraph | TableBlock


class _Catcher(Console):
    """A console that keeps every object printed to it, in order, and draws nothing."""

    def __init__(self) -> None:
        super().__init__(width=200, color_system=None)
        self.caught: list[Any] = []

    def print(self, *objects: Any, **options: Any) -> None:
        self.caught.extend(objects)


def _text(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text.from_markup(str(value))


def _table(table: Table) -> TableBlock:
    columns = table.columns
    cells = [[_text(c) for c in column.cells] for column in columns]
    rows = [list(row) for row in zip(*cells, strict=True)] if cells else []
    return TableBlock(
        title=_text(table.title) if table.title else None,
        headers=[_text(c.header) for c in columns],
        right=[c.justify == "right" for c in columns],
        rows=rows,
    )


def blocks(draw: Callable[[Console], None]) -> list[Block]:
    """Run a terminal renderer and return what it printed, as paragraphs and tables."""
    catcher = _Catcher()
    draw(catcher)
    found: list[Block] = []
    for item in catcher.caught:
        if isinstance(item, Table):
            found.append(_table(item))
        elif isinstance(item, str | Text):
            found.append(Paragraph(_text(item)))
    return found


def styled_runs(text: Text) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The text in pieces, each with the STYLES that cover it."""
    plain = text.plain
    cuts = sorted({0, len(plain), *(s.start for s in text.spans), *(s.end for s in text.spans)})
    for start, end in pairwise(cuts):
        if start >= end:
            continue
        words = {
            word
            for span in text.spans
            if span.start <= start and span.end >= end
            for word in str(span.style).split()
        }
        yield plain[start:end], tuple(s for s in STYLES if s in words)
