"""User-facing errors: each says what failed, where, and what to do next.

    ObenchError            (exit code on its class)
    ├── UsageError         2  bad flag value, bad target spec, unreadable input file
    └── NoTargetError      3  no target can be used (unreachable, model missing)

The CLI prints `error: <message>` and, on a second line, the hint; tracebacks only with --debug.
"""

from __future__ import annotations


class ObenchError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ObenchError):
    """A flag, target spec or input file is wrong; nothing was measured."""

    exit_code = 2


class NoTargetError(ObenchError):
    """Every target was unreachable or lacked the model."""

    exit_code = 3
