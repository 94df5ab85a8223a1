"""User-facing errors: each says what failed, where, and what to do next.

    ObenchError            (exit code on its class)
    ├── UsageError         2  bad flag value, bad target spec, unreadable input file
    ├── NoTargetError      3  no target can be used (unreachable, model missing)
    ├── FailedRunError     4  the run completed, but a target had no successful measured request
    │                         (or more failures than --max-failure-rate allows)
    └── RunFileError      74  the run file cannot be written (disk full, ...): the run stops

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


class FailedRunError(ObenchError):
    """The run completed and its summary is shown, but it cannot be trusted as a result: some
    target never answered a measured request, or failed more often than allowed. For CI."""

    exit_code = 4


class RunFileError(ObenchError):
    """The run file cannot be written (a full disk, a lost mount): nothing more can be kept, so
    the run stops; what was measured is summarised. 74 is sysexits.h's EX_IOERR, the usual code
    for an input/output error on a file, well apart from the small codes of check outcomes."""

    exit_code = 74
