"""Where command output goes: results to stdout (tables or JSON), progress and errors to stderr.

Shared by every command module so that an error is always one line, and `--json` always prints
nothing but the summary on stdout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from ollama_bench.errors import ObenchError
from ollama_bench.untrusted import printable

err_console = Console(stderr=True)

S = TypeVar("S", bound=BaseModel)


def fail(exc: ObenchError, debug: bool) -> typer.Exit:
    """One line (message — hint) instead of a traceback; the traceback only with --debug."""
    if debug:
        err_console.print_exception()
    hint = f" — {exc.hint}" if exc.hint else ""
    err_console.print(
        f"[red]error:[/red] {printable(exc.message + hint)}", highlight=False, soft_wrap=True
    )
    return typer.Exit(exc.exit_code)


def as_json(summary: BaseModel) -> str:
    return json.dumps(summary.model_dump(mode="json"), indent=2)


def show(summary: S, json_output: bool, render: Callable[[S, Console], None]) -> None:
    """The summary as JSON on stdout, or rendered as tables."""
    if json_output:
        print(as_json(summary))
    else:
        render(summary, Console())
