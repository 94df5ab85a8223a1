"""Text from servers and models (and the files that store it) made safe to store and to print.

Everything a server or a model sends is untrusted: versions, digests, error texts, replies, model
names, and whatever a run file read back holds. Two leaves do the work: `storable` turns lone
surrogates (which no UTF-8 file can hold) into U+FFFD, and `printable` also shows control
characters, ANSI escape sequences and bidirectional overrides as visible `\\x1b`-style escapes and
escapes rich markup. `sanitised` applies a leaf to every string of a record, so a renderer makes
its whole input safe in one call at its entry instead of escaping field by field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar, cast

from pydantic import BaseModel
from rich.markup import escape

T = TypeVar("T")

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: C0 and C1 controls (ESC starts every terminal escape sequence), DEL, and the invisible
#: bidirectional controls that can make a terminal line read differently from its bytes.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def storable(text: str) -> str:
    """`text` with each lone surrogate (valid in Python, impossible in UTF-8) made U+FFFD.

    >>> storable("a\\ud800b")
    'a�b'
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


def visible(text: str) -> str:
    """Control characters and escape sequences shown as `\\xNN`/`\\uNNNN`, never obeyed.

    >>> visible("ok\\x1b[2J\\nnext")
    'ok\\\\x1b[2J\\\\nnext'
    """

    def show(match: re.Match[str]) -> str:
        code = ord(match[0])
        named = {10: "\\n", 13: "\\r", 9: "\\t"}
        return named.get(code) or (f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")

    return _INVISIBLE.sub(show, storable(text))


def printable(text: str) -> str:
    """Safe inside rich markup: visible control characters, and `[` escaped where rich would
    read a tag.

    >>> printable("0.99.0[/]")
    '0.99.0\\\\[/]'
    """
    return escape(visible(text))


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis when longer.

    >>> clip("abcdef", 4)
    'abc…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sanitised(value: T, leaf: Callable[[str], str] = printable) -> T:
    """A copy of `value` (a record, or containers of them) with `leaf` applied to every string,
    dictionary keys included. Records are rebuilt without validation: only strings change."""
    if isinstance(value, str):
        return cast(T, leaf(value))
    if isinstance(value, BaseModel):
        fields = {name: sanitised(getattr(value, name), leaf) for name in type(value).model_fields}
        return type(value).model_construct(_fields_set=value.model_fields_set, **fields)
    if isinstance(value, dict):
        return cast(T, {sanitised(k, leaf): sanitised(v, leaf) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return cast(T, type(value)(sanitised(v, leaf) for v in value))
    return value
