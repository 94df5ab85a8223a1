"""Command line: argv → one call → rendered output and an exit code.

Exit codes: 0 the run completed (failed requests are results), 1 a check found warnings
(doctor), 2 usage or input error (or Docker missing for up/down), 3 no target usable,
4 the run completed but a target had no successful measured request (or failed more often than
--max-failure-rate), 74 the run file could not be written (disk full; what was measured is
shown), 130/143/129 interrupted by Ctrl-C/SIGTERM/SIGHUP (partial results kept and shown).
Each command's --help lists its own.
"""

from ollama_bench.cli import vision  # noqa: F401, I001  (each registers its commands on app,
from ollama_bench.cli import load  # noqa: F401   in the order --help lists them)
from ollama_bench.cli import report  # noqa: F401
from ollama_bench.cli import ops  # noqa: F401
from ollama_bench.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
