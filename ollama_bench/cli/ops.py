"""`obench up`, `down`, `pull` and `doctor`: start, fill and check the Ollama servers."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from ollama_bench.cli.app import (
    DebugOpt,
    FileOpt,
    HeaderOpt,
    JsonOpt,
    ModelOpt,
    QuietOpt,
    TargetOpt,
    app,
    target_specs,
)
from ollama_bench.console import err_console, fail
from ollama_bench.errors import ObenchError, UsageError
from ollama_bench.models import RequestSettings, TargetSpec
from ollama_bench.ops import doctor as doctor_checks
from ollama_bench.ops import stack
from ollama_bench.ops.pulling import PullOutcome, pull_all
from ollama_bench.untrusted import printable
from ollama_bench.views.ops_tables import (
    PullView,
    diagnosis_json,
    print_stack,
    pull_json,
    render_diagnosis,
)

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
    header: HeaderOpt = None,
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
        specs = servers(target_specs(target, header), "up")
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


def servers(specs: list[TargetSpec], command: str) -> list[TargetSpec]:
    """The servers among the targets: an in-process OCR target has nothing to start, pull, check."""
    found = [spec for spec in specs if spec.api != "ocr"]
    for spec in specs:
        if spec.api == "ocr":
            err_console.print(
                f"{spec.name}: runs in-process, nothing to {command}", highlight=False
            )
    if not found:
        raise UsageError(
            f"obench {command} works on model servers and every --target here runs in-process",
            "name a server with --target NAME=URL",
        )
    return found


def pull_targets(
    specs: list[TargetSpec], model: str, *, force: bool, quiet: bool
) -> list[PullOutcome]:
    specs = [spec for spec in specs if spec.api != "ocr"]  # obench vision --pull passes them all
    with PullView(err_console, model, enabled=not quiet) as view:
        return asyncio.run(pull_all(specs, RequestSettings(model=model), view, force=force))


@app.command(epilog=PULL_EXIT)
def pull(
    target: TargetOpt = None,
    header: HeaderOpt = None,
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
        outcomes = pull_targets(
            servers(target_specs(target, header), "pull"), model, force=force, quiet=quiet
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
    header: HeaderOpt = None,
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
                servers(target_specs(target, header), "doctor"),
                settings,
                load=load,
                on_loading=lambda spec: err_console.print(
                    f"loading {printable(model)} on {spec.name}…", highlight=False
                ),
            )
        )
    except ObenchError as exc:
        raise fail(exc, debug) from None
    if json_output:
        print(diagnosis_json(diagnosis))
    else:
        render_diagnosis(diagnosis, Console())
    raise typer.Exit(diagnosis.exit_code)
