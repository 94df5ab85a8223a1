"""Markdown: the tables a terminal shows, as GitHub-flavoured Markdown to paste into an issue.

A pure serializer of what the terminal renderer prints (blocks.py). Every piece of text is
escaped: Markdown punctuation that could make a link, an image, emphasis or a table cell border
is backslash-escaped, and `<`, `>`, `&` become entities, so a server's `<img src=…>` or
`[click](…)` shows as the characters it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text

from ollama_bench.runfiles import ComparedRuns, Report
from ollama_bench.untrusted import visible
from ollama_bench.views.blocks import Block, Paragraph, TableBlock, blocks
from ollama_bench.views.kinds import kind

#: What can start a link, an image, emphasis, code, a strike-through or a cell border anywhere in
#: a line; `(` only matters after `]`, which is escaped.
_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
#: What makes a heading or a list only at the start of a line: the punctuation is escaped (a
#: backslash before a digit is no escape, and would show).
_LINE_START = re.compile(r"^(\d*)([#+\-.)])")


def md_escape(text: str) -> str:
    r"""Text that renders as itself in Markdown, on one line.

    >>> md_escape("<b>a|b</b> [x](y)")
    '&lt;b&gt;a\\|b&lt;/b&gt; \\[x\\](y)'
    >>> md_escape("# not a heading")
    '\\# not a heading'
    >>> md_escape("1. not a list, 3.6 s")
    '1\\. not a list, 3.6 s'
    """
    text = visible(" ".join(text.splitlines()))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _LINE_START.sub(r"\1\\\2", _PUNCTUATION.sub(r"\\\1", text))


def _cell(text: Text) -> str:
    lines = [md_escape(line) for line in text.plain.split("\n")]
    return "<br>".join(line for line in lines if line) or " "


def table_markdown(table: TableBlock) -> str:
    lines = []
    if table.title is not None:
        lines += [f"**{md_escape(table.title.plain)}**", ""]
    lines.append("| " + " | ".join(_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join("---:" if right else "---" for right in table.right) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def blocks_markdown(found: Sequence[Block]) -> str:
    parts = []
    for block in found:
        if isinstance(block, TableBlock):
            parts.append(table_markdown(block))
        elif isinstance(block, Paragraph) and block.text.plain.strip():
            parts.append(md_escape(block.text.plain))
    return "\n\n".join(parts)


def report_markdown(reports: Sequence[Report | ComparedRuns]) -> str:
    """One document: per run file a heading, its verdict, and the terminal's tables."""
    sections = []
    for report in reports:
        k = kind(report)
        sections.append(
            f"## {md_escape(k.title)}\n\n{md_escape(k.verdict)}\n\n"
            + blocks_markdown(blocks(k.render))
        )
    return "\n\n".join(sections) + "\n"
