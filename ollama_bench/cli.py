"""Command line: argv → one call → rendered output and an exit code.

Exit codes: 0 the run completed (failed requests are results), 2 usage or input error,
3 no target usable, 130 interrupted (partial results kept and shown).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ollama_bench import __version__
from ollama_bench.bench import Outcome, VisionJob, run_vision
from ollama_bench.cnn import cli as cnn_cli
from ollama_bench.errors import ObenchError
from ollama_bench.models import RequestSettings
from ollama_bench.reports import ProgressReporter, as_json, print_probe, progress_bar, render
from ollama_bench.scenarios import builtin_names, load_scenario
from ollama_bench.store import read_vision_run
from ollama_bench.summary import RunSummary, summarise
from ollama_bench.targets import DEFAULT_TARGETS, parse_targets

EXIT_CODES = (
    "Exit codes: 0 the run completed (failed requests are counted, not fatal); "
    "2 usage or input error; 3 no target usable (unreachable or model missing); "
    "130 interrupted by Ctrl-C (finished requests are kept and summarised)."
)
TARGET_HELP = "Ollama server to measure; repeat for each. See TARGETS above."

app = typer.Typer(
    help="Benchmark vision language models served by Ollama: speed, validity, accuracy. "
    + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cnn_cli.app, name="cnn")  # imports without torch; says how to install it
err_console = Console(stderr=True)


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
    """Benchmark vision language models served by Ollama."""


def fail(exc: ObenchError, debug: bool) -> typer.Exit:
    """One line (and a hint) instead of a traceback; the traceback only with --debug."""
    if debug:
        err_console.print_exception()
    hint = f" — {exc.hint}" if exc.hint else ""
    err_console.print(f"[red]error:[/red] {exc.message}{hint}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


@app.command(epilog=EXIT_CODES)
def vision(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            "-s",
            envvar="OBENCH_SCENARIO",
            help=f"Built-in scenario ({', '.join(builtin_names())}) or a scenario .json file.",
        ),
    ] = "cctv",
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", "-t", metavar="NAME=URL", envvar="OBENCH_TARGETS", help=TARGET_HELP
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(envvar="OBENCH_MODEL", help="Ollama model to benchmark.")
    ] = "llama3.2-vision",
    images: Annotated[
        Path | None,
        typer.Option(
            envvar="OBENCH_IMAGES",
            help="Folder of your own images, with an optional labels.json "
            "(file name → expected reply), instead of the bundled ones.",
        ),
    ] = None,
    runs: Annotated[
        int,
        typer.Option(
            min=1, envvar="OBENCH_RUNS", help="Measured repetitions per image per target."
        ),
    ] = 3,
    warmup: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="OBENCH_WARMUP",
            help="Warm-up requests per target: stored, left out of statistics.",
        ),
    ] = 1,
    structured: Annotated[
        bool,
        typer.Option(
            "--format/--no-format",
            envvar="OBENCH_FORMAT",
            help="Send the reply's JSON schema as Ollama's `format` "
            "(structured outputs), or nothing.",
        ),
    ] = True,
    timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            envvar="OBENCH_TIMEOUT",
            help="Seconds one request may take in all; CPU servers need minutes.",
        ),
    ] = 600.0,
    num_ctx: Annotated[
        int,
        typer.Option(
            min=256,
            envvar="OBENCH_NUM_CTX",
            help="Context window sent to every target, so GPU and CPU servers run the same.",
        ),
    ] = 4096,
    num_predict: Annotated[
        int, typer.Option(min=1, envvar="OBENCH_NUM_PREDICT", help="Most tokens a reply may have.")
    ] = 1024,
    seed: Annotated[
        int, typer.Option(envvar="OBENCH_SEED", help="Sampling seed (temperature is 0).")
    ] = 42,
    keep_alive: Annotated[
        str,
        typer.Option(
            envvar="OBENCH_KEEP_ALIVE",
            help="How long Ollama keeps the model loaded after each request (Go duration).",
        ),
    ] = "30m",
    out: Annotated[
        Path, typer.Option(envvar="OBENCH_OUT", help="Run file (.jsonl) or folder for it.")
    ] = Path("obench-runs"),
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout instead of tables.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Send the scenario's images to every target, time, validate and score each reply, and report.

    TARGETS: each --target is NAME=URL, optionally followed by Ollama options for that target:
    NAME=URL,KEY=VALUE,... For example `--target gpu=http://localhost:11434 --target
    cpu=http://localhost:11434,num_gpu=0` lets one server play both roles (num_gpu=0 keeps every
    layer on the CPU). The default is gpu=http://localhost:11434 and cpu=http://localhost:11435.
    The speed-up is reported against the target named cpu, else the first.
    """
    settings = RequestSettings(
        model=model,
        seed=seed,
        num_ctx=num_ctx,
        num_predict=num_predict,
        keep_alive=keep_alive,
        timeout_s=timeout,
        structured=structured,
    )
    outcome = Outcome()
    try:
        job = VisionJob(
            scenario=load_scenario(scenario, images),
            settings=settings,
            targets=parse_targets(target or list(DEFAULT_TARGETS)),
            warmup=warmup,
            runs=runs,
            out=out,
        )
        with progress_bar(err_console, enabled=not quiet) as bar:
            summary = asyncio.run(
                run_vision(
                    job,
                    outcome,
                    on_probe=lambda infos: print_probe(infos, err_console),
                    observer=lambda total: ProgressReporter(bar, total),
                )
            )
    except ObenchError as exc:
        raise fail(exc, debug) from None
    except KeyboardInterrupt:
        if outcome.summary is None:
            err_console.print("interrupted before any request finished; nothing was recorded")
            raise typer.Exit(130) from None
        err_console.print(
            f"[yellow]interrupted:[/yellow] finished requests are in {outcome.run_file}"
        )
        _show(outcome.summary, json_output)
        raise typer.Exit(130) from None
    _show(summary, json_output)


def _show(summary: RunSummary, json_output: bool) -> None:
    if json_output:
        print(as_json(summary))
    else:
        render(summary, Console())


@app.command(epilog="Exit codes: 0 shown; 2 the file cannot be read.")
def report(
    run_file: Annotated[Path, typer.Argument(help="A run file written by obench vision.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Summarise a stored run again, e.g. one that was interrupted or made elsewhere."""
    try:
        run = read_vision_run(run_file)
    except ObenchError as exc:
        raise fail(exc, debug) from None
    interrupted = run.footer is None or run.footer.interrupted
    _show(summarise(run.header, run.samples, str(run_file), interrupted=interrupted), json_output)


def main() -> None:
    app()
