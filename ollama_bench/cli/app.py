"""The `obench` Typer app, the options its commands share, and exit codes for --help.

Command modules (vision.py, ops.py) register themselves on `app`; cli/__init__.py imports them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

import typer
from pydantic import BaseModel, SecretStr
from rich.console import Console

from ollama_bench import __version__
from ollama_bench.cli.signals import stops_like_ctrl_c
from ollama_bench.cnn import cli as cnn_cli
from ollama_bench.console import fail, interrupted, show
from ollama_bench.errors import FailedRunError, ObenchError, RunFileError, UsageError
from ollama_bench.models import TargetSpec
from ollama_bench.targets.auth import parse_headers
from ollama_bench.targets.spec import DEFAULT_TARGETS, parse_targets
from ollama_bench.vision.scenarios import builtin_names

EXIT_CODES = (
    "Exit codes: 0 the run completed (failed requests are counted, not fatal); "
    "2 usage or input error; 3 no target usable (unreachable or model missing); "
    "4 the run completed but some target had no successful measured request, or failed more "
    "often than --max-failure-rate; "
    "74 the run file could not be written (disk full): the run stopped, what was measured is "
    "summarised; "
    "130, 143, 129 interrupted by Ctrl-C, SIGTERM or SIGHUP (finished requests are kept and "
    "summarised)."
)
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        metavar="NAME=URL",
        envvar="OBENCH_TARGETS",
        help="Server, NAME=URL[,OPTION=VALUE...] (api=openai for an OpenAI-compatible one); "
        "repeat for each. "
        "Default: gpu=http://localhost:11434 and cpu=http://localhost:11435.",
    ),
]
HEADERS_ENV = "OBENCH_HEADERS"
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        "-H",
        metavar="'NAME: VALUE'",
        help="HTTP header sent on every call to every target (the probe too), e.g. for an auth "
        "proxy; repeat for each. Values are never printed or stored. "
        f"Env {HEADERS_ENV}: one header per line. "
        "Credentials in a target URL (http://user:pass@host) are sent as Basic auth; "
        "OLLAMA_API_KEY, when set, as Bearer (unless a header or URL gives Authorization).",
    ),
]
ModelOpt = Annotated[str, typer.Option(envvar="OBENCH_MODEL", help="Ollama model.")]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        envvar="OBENCH_COMPOSE_FILE",
        help="Compose file to use instead of obench's compose.yaml.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
DebugOpt = Annotated[bool, typer.Option(help="Show tracebacks.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]

# -- what `obench vision` and `obench load` both send, declared once so the two cannot drift ----

ScenarioOpt = Annotated[
    str,
    typer.Option(
        "--scenario",
        "-s",
        envvar="OBENCH_SCENARIO",
        help=f"Built-in scenario ({', '.join(builtin_names())}) or a scenario .json file.",
    ),
]
BenchModelOpt = Annotated[
    str,
    typer.Option(
        envvar="OBENCH_MODEL",
        help="Model to benchmark as the servers list it (Ollama tag, or id in /v1/models).",
    ),
]
FormatOpt = Annotated[
    bool,
    typer.Option(
        "--format/--no-format",
        envvar="OBENCH_FORMAT",
        help="Send the reply's JSON schema as Ollama's `format` (OpenAI-compatible: "
        "`response_format`), or nothing.",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        min=0.1,
        envvar="OBENCH_TIMEOUT",
        help="Seconds one request may take in all; CPU servers need minutes.",
    ),
]
NumCtxOpt = Annotated[
    int,
    typer.Option(
        min=256,
        envvar="OBENCH_NUM_CTX",
        help="Context window sent to every target, so GPU and CPU servers run the same.",
    ),
]
NumPredictOpt = Annotated[
    int, typer.Option(min=1, envvar="OBENCH_NUM_PREDICT", help="Most tokens a reply may have.")
]
KeepAliveOpt = Annotated[
    str,
    typer.Option(
        envvar="OBENCH_KEEP_ALIVE",
        help="How long Ollama keeps the model loaded after each request (Go duration).",
    ),
]
OutOpt = Annotated[
    Path, typer.Option(envvar="OBENCH_OUT", help="Run file (.jsonl) or folder for it.")
]
MonitorOpt = Annotated[
    bool,
    typer.Option(
        "--monitor/--no-monitor",
        envvar="OBENCH_MONITOR",
        help="Sample each target's container (CPU %, memory; Docker), the GPUs "
        "(nvidia-smi, with power) and CPU package energy (RAPL) about once a second.",
    ),
]
SummaryJsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the summary as JSON on stdout instead of tables.")
]


def http_headers(headers: list[str] | None) -> dict[str, SecretStr]:
    """The --header values, or the OBENCH_HEADERS lines."""
    lines = headers if headers else os.environ.get(HEADERS_ENV, "").splitlines()
    return parse_headers(lines)


def target_specs(targets: list[str] | None, headers: list[str] | None) -> list[TargetSpec]:
    """--target values (or the defaults) with the --header values (or OBENCH_HEADERS lines)."""
    return parse_targets(targets or list(DEFAULT_TARGETS), http_headers(headers))


app = typer.Typer(
    help="Benchmark vision language models served by Ollama or an OpenAI-compatible server: "
    "speed, validity, accuracy. "
    + EXIT_CODES
    + " doctor exits 1 when it finds warnings; each command's --help lists its own codes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cnn_cli.app, name="cnn")  # imports without torch; says how to install it


S = TypeVar("S", bound=BaseModel)
S_co = TypeVar("S_co", bound=BaseModel, covariant=True)


class RunOutcome(Protocol[S_co]):
    """What a run has measured so far (vision's Outcome, load's LoadOutcome)."""

    @property
    def summary(self) -> S_co | None: ...
    @property
    def run_file(self) -> Path | None: ...


def run_and_show(
    run: Callable[[], S | None],
    outcome: RunOutcome[S],
    render: Callable[[S, Console], None],
    problem: Callable[[S], str | None],
    *,
    json_output: bool,
    debug: bool,
) -> None:
    """`run()` with the exits `obench vision` and `obench load` share: one error line (74 after
    showing what a full disk left measured), Ctrl-C/SIGTERM/SIGHUP showing what was measured,
    then the summary, and exit 4 when `problem` names one. `run()` returns None when it has
    shown all there is to show."""
    with stops_like_ctrl_c() as stop:
        try:
            summary = run()
        except RunFileError as exc:  # the disk filled: what was measured is shown, then why
            if outcome.summary is not None:
                show(outcome.summary, json_output, render)
            raise fail(exc, debug) from None
        except ObenchError as exc:
            raise fail(exc, debug) from None
        except KeyboardInterrupt:
            summary_so_far, run_file = outcome.summary, outcome.run_file
            raise interrupted(stop, summary_so_far, run_file, json_output, render) from None
    if summary is None:
        return
    show(summary, json_output, render)
    if why := problem(summary):
        hint = f"each failed request is in {outcome.run_file} with its error"
        raise fail(FailedRunError(why, hint), debug)


def parse_levels(text: str, flag: str, *, integer: bool, example: str = "1,2,4") -> list[float]:
    """A comma-separated list of positive numbers (whole ones where `integer`), for the sweep
    flags (--concurrency, --rate, --image-sizes); a bad item is a one-line UsageError.

    >>> parse_levels("0.5, 1,2", "--rate", integer=False)
    [0.5, 1.0, 2.0]
    """
    levels = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            value = float(part)
        except ValueError:
            raise UsageError(
                f"{flag}: {part!r} is not a number", f"e.g. {flag} {example}"
            ) from None
        if not math.isfinite(value) or value <= 0 or (integer and value != int(value)):
            kind = "a whole number above 0" if integer else "a number above 0"
            raise UsageError(f"{flag}: {part!r} must be {kind}", f"e.g. {flag} {example}")
        levels.append(value)
    if not levels:
        raise UsageError(f"{flag} names no value", f"e.g. {flag} {example}")
    return levels


def _version(value: bool) -> None:
    if value:
        print(f"obench {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Benchmark vision language models served by Ollama or an OpenAI-compatible server."""
