"""Command line: argv → one call → rendered output and an exit code.

Exit codes: 0 the run completed (failed requests are results), 1 a check found warnings
(doctor), 2 usage or input error (or Docker missing for up/down), 3 no target usable,
130 interrupted (partial results kept and shown). Each command's --help lists its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ollama_bench import __version__, stack
from ollama_bench import doctor as doctor_checks
from ollama_bench.bench import Outcome, VisionJob, run_vision
from ollama_bench.cnn import cli as cnn_cli
from ollama_bench.console import err_console, fail, show
from ollama_bench.errors import ObenchError
from ollama_bench.models import RequestSettings, TargetSpec
from ollama_bench.ops_reports import (
    PullView,
    diagnosis_json,
    print_placements,
    print_stack,
    pull_json,
    render_diagnosis,
)
from ollama_bench.pulling import PullOutcome, pull_all
from ollama_bench.reports import ProgressReporter, print_probe, progress_bar, render
from ollama_bench.scenarios import builtin_names, load_scenario
from ollama_bench.store import read_vision_run
from ollama_bench.summary import summarise
from ollama_bench.targets import DEFAULT_TARGETS, parse_targets

EXIT_CODES = (
    "Exit codes: 0 the run completed (failed requests are counted, not fatal); "
    "2 usage or input error; 3 no target usable (unreachable or model missing); "
    "130 interrupted by Ctrl-C (finished requests are kept and summarised)."
)
TARGET_HELP = "Ollama server to measure; repeat for each. See TARGETS above."
UP_EXIT = (
    "Exit codes: 0 the servers answer; 2 usage error, or Docker, its compose plugin or its "
    "engine is missing (the message says how to run Ollama without Docker); 3 compose failed "
    "or a server did not answer within --timeout."
)
DOWN_EXIT = "Exit codes: 0 stopped; 2 Docker or its compose plugin is missing; 3 compose failed."
PULL_EXIT = (
    "Exit codes: 0 every target has the model; 2 usage error; 3 a target could not get it "
    "(unreachable, unknown model, disk full, connection lost)."
)
DOCTOR_EXIT = (
    "Exit codes: 0 all well; 1 usable, with warnings (a target named gpu runs on the CPU or "
    "one named cpu on the GPU, two targets are one server, the targets hold different builds "
    "of the model); 2 usage error; 3 a target is unusable (unreachable, an Ollama release "
    "that cannot run the model, model missing, load failed)."
)

TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        metavar="NAME=URL",
        envvar="OBENCH_TARGETS",
        help="Ollama server, NAME=URL[,OPTION=VALUE...]; repeat for each. "
        "Default: gpu=http://localhost:11434 and cpu=http://localhost:11435.",
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

app = typer.Typer(
    help="Benchmark vision language models served by Ollama: speed, validity, accuracy. "
    + EXIT_CODES
    + " doctor exits 1 when it finds warnings; each command's --help lists its own codes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cnn_cli.app, name="cnn")  # imports without torch; says how to install it


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
    pull: Annotated[
        bool,
        typer.Option(
            "--pull", envvar="OBENCH_PULL", help="First pull the model on targets that lack it."
        ),
    ] = False,
    monitor: Annotated[
        bool,
        typer.Option(
            "--monitor/--no-monitor",
            envvar="OBENCH_MONITOR",
            help="Sample each target's container (CPU %, memory; Docker) and the GPUs "
            "(nvidia-smi) about once a second during the run.",
        ),
    ] = True,
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
            monitor=monitor,
        )
        if pull:
            _pull(job.targets, model, force=False, quiet=quiet)
        with progress_bar(err_console, enabled=not quiet) as bar:
            summary = asyncio.run(
                run_vision(
                    job,
                    outcome,
                    on_probe=lambda infos: print_probe(infos, err_console),
                    observer=lambda total: ProgressReporter(bar, total),
                    on_placement=lambda readings: print_placements(readings, err_console),
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
        show(outcome.summary, json_output, render)
        raise typer.Exit(130) from None
    show(summary, json_output, render)


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
    summary = summarise(
        run.header,
        run.samples,
        str(run_file),
        interrupted=interrupted,
        placements=run.footer.placements if run.footer else [],
        utilisation=run.utilisation,
    )
    show(summary, json_output, render)


@app.command(epilog=UP_EXIT)
def up(
    file: FileOpt = None,
    gpu: Annotated[
        bool | None,
        typer.Option(
            "--gpu/--cpu-only",
            help="Start the GPU server too, or only the CPU one. Default: --gpu where "
            "nvidia-smi is installed, else --cpu-only.",
        ),
    ] = None,
    target: TargetOpt = None,
    model: ModelOpt = "llama3.2-vision",
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the servers to answer.")
    ] = 180.0,
    debug: DebugOpt = False,
) -> None:
    """Start the Ollama servers of compose.yaml (GPU on :11434, CPU on :11435) and wait for them.

    Runs `docker compose -p obench up --detach` (or docker-compose); without an NVIDIA GPU it adds
    compose.cpu-only.yaml, which leaves the GPU server out. The --target URLs are the ones waited
    for. Models are kept in the volume obench_models, shared by both servers.
    """
    variant: stack.Variant = (
        stack.default_variant() if gpu is None else "gpu" if gpu else "cpu-only"
    )
    try:
        specs = parse_targets(target or list(DEFAULT_TARGETS))
        if variant == "cpu-only" and gpu is None:
            err_console.print("no nvidia-smi on this machine: starting the CPU server only")
        infos = stack.up(
            specs, RequestSettings(model=model), file=file, variant=variant, timeout_s=timeout
        )
    except ObenchError as exc:
        raise fail(exc, debug) from None
    print_stack(infos, model, Console())


@app.command(epilog=DOWN_EXIT)
def down(
    file: FileOpt = None,
    volumes: Annotated[
        bool,
        typer.Option("--volumes", help="Also delete the model volume (the model is 7.8 GB)."),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Stop and remove the servers started by obench up."""
    try:
        stack.down(file=file, volumes=volumes)
    except ObenchError as exc:
        raise fail(exc, debug) from None


def _pull(specs: list[TargetSpec], model: str, *, force: bool, quiet: bool) -> list[PullOutcome]:
    with PullView(err_console, model, enabled=not quiet) as view:
        return asyncio.run(pull_all(specs, RequestSettings(model=model), view, force=force))


@app.command(epilog=PULL_EXIT)
def pull(
    target: TargetOpt = None,
    model: ModelOpt = "llama3.2-vision",
    force: Annotated[
        bool, typer.Option("--force", help="Pull even where the model is already present.")
    ] = False,
    quiet: QuietOpt = False,
    json_output: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Pull the model on every target that lacks it, with a progress bar per target.

    Targets are pulled one at a time; servers sharing a model store (as compose.yaml's do) then
    find the model already there. A target that fails is reported and the others go on.
    """
    try:
        outcomes = _pull(
            parse_targets(target or list(DEFAULT_TARGETS)), model, force=force, quiet=quiet
        )
    except ObenchError as exc:
        raise fail(exc, debug) from None
    if json_output:
        print(pull_json(outcomes))
    if any(o.state == "failed" for o in outcomes):
        raise typer.Exit(3)


@app.command(epilog=DOCTOR_EXIT)
def doctor(
    target: TargetOpt = None,
    model: ModelOpt = "llama3.2-vision",
    load: Annotated[
        bool,
        typer.Option(
            "--load",
            help="Load the model on each target with the run's options first, so that where "
            "it runs is known (takes as long as a cold start).",
        ),
    ] = False,
    num_ctx: Annotated[
        int, typer.Option(min=256, envvar="OBENCH_NUM_CTX", help="Context window --load sends.")
    ] = 4096,
    keep_alive: Annotated[
        str, typer.Option(envvar="OBENCH_KEEP_ALIVE", help="How long --load keeps the model.")
    ] = "30m",
    timeout: Annotated[
        float, typer.Option(min=0.1, envvar="OBENCH_TIMEOUT", help="Seconds a load may take.")
    ] = 600.0,
    json_output: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check every target: reachable, Ollama version, model present, and where the model runs.

    Where it runs comes from /api/ps, as `ollama ps` shows it: all on the GPU, all on the CPU, or
    split. A target named like a GPU (gpu, cuda) that runs on the CPU, or named cpu that runs on
    the GPU, is flagged loudly.
    """
    settings = RequestSettings(
        model=model, num_ctx=num_ctx, keep_alive=keep_alive, timeout_s=timeout
    )
    try:
        diagnosis = asyncio.run(
            doctor_checks.run(
                parse_targets(target or list(DEFAULT_TARGETS)),
                settings,
                load=load,
                on_loading=lambda spec: err_console.print(f"loading {model} on {spec.name}…"),
            )
        )
    except ObenchError as exc:
        raise fail(exc, debug) from None
    if json_output:
        print(diagnosis_json(diagnosis))
    else:
        render_diagnosis(diagnosis, Console())
    raise typer.Exit(diagnosis.exit_code)


def main() -> None:
    app()
