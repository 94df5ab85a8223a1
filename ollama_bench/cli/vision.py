"""`obench vision`: run a vision benchmark (cli/report.py summarises a stored one)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from ollama_bench.cli.app import (
    EXIT_CODES,
    BenchModelOpt,
    DebugOpt,
    FormatOpt,
    HeaderOpt,
    KeepAliveOpt,
    MonitorOpt,
    NumCtxOpt,
    NumPredictOpt,
    OutOpt,
    QuietOpt,
    ScenarioOpt,
    SummaryJsonOpt,
    TimeoutOpt,
    app,
    http_headers,
    parse_levels,
    run_and_show,
    target_specs,
)
from ollama_bench.console import err_console, show
from ollama_bench.errors import UsageError
from ollama_bench.models import RequestSettings, StopSettings, TargetSpec
from ollama_bench.runfiles import vision_summary
from ollama_bench.store import read_vision_run
from ollama_bench.untrusted import printable
from ollama_bench.views.ops_tables import print_placements
from ollama_bench.views.tables import (
    ProgressReporter,
    print_give_up,
    print_notices,
    print_probe,
    progress_bar,
    render,
)
from ollama_bench.vision import preflight
from ollama_bench.vision.bench import Outcome, VisionJob, run_vision
from ollama_bench.vision.gate import run_problem
from ollama_bench.vision.health import DEFAULT_GIVE_UP_AFTER
from ollama_bench.vision.resume import (
    ResumePoint,
    check_flags,
    check_inputs,
    open_run,
    source_of,
    target_record,
)
from ollama_bench.vision.scenarios import load_scenario
from ollama_bench.vision.sizes import sized_scenario
from ollama_bench.vision.summary import RunSummary

TARGET_HELP = (
    "Server to measure (Ollama, or OpenAI-compatible with api=openai); repeat for each. "
    "See TARGETS above."
)

#: Each option that shapes a run, under the name resume.recorded_flags gives it. The others
#: (--header, --give-up-after, --max-failure-rate, --pull, output) may differ on --resume.
RUN_FLAGS = {
    "scenario": "--scenario",
    "images": "--images",
    "target": "--target",
    "model": "--model",
    "runs": "--runs",
    "warmup": "--warmup",
    "until_ci": "--until-ci",
    "max_runs": "--max-runs",
    "structured": "--format",
    "timeout": "--timeout",
    "num_ctx": "--num-ctx",
    "num_predict": "--num-predict",
    "seed": "--seed",
    "keep_alive": "--keep-alive",
    "max_image_side": "--max-image-side",
    "image_sizes": "--image-sizes",
    "monitor": "--monitor",
}


@app.command(epilog=EXIT_CODES)
def vision(
    ctx: typer.Context,
    scenario: ScenarioOpt = "cctv",
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", "-t", metavar="NAME=URL", envvar="OBENCH_TARGETS", help=TARGET_HELP
        ),
    ] = None,
    header: HeaderOpt = None,
    model: BenchModelOpt = "llama3.2-vision",
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
            min=1,
            envvar="OBENCH_RUNS",
            help="Measured rounds (every image on every target); with --until-ci, the fewest.",
        ),
    ] = 3,
    until_ci: Annotated[
        float | None,
        typer.Option(
            "--until-ci",
            metavar="PCT",
            min=0.1,
            envvar="OBENCH_UNTIL_CI",
            help="Add rounds until every latency speed-up's 95% CI is within ±PCT% of it "
            "(at least --runs, at most --max-runs rounds).",
        ),
    ] = None,
    max_runs: Annotated[
        int,
        typer.Option(
            min=1, envvar="OBENCH_MAX_RUNS", help="Most rounds a run with --until-ci may take."
        ),
    ] = 20,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            metavar="FILE",
            envvar="OBENCH_RESUME",
            help="Continue an interrupted or killed run in FILE with the settings its header "
            "records; flags given beside it must agree.",
        ),
    ] = None,
    warmup: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="OBENCH_WARMUP",
            help="Warm-up requests per target: stored, left out of statistics.",
        ),
    ] = 1,
    structured: FormatOpt = True,
    timeout: TimeoutOpt = 600.0,
    num_ctx: NumCtxOpt = 4096,
    num_predict: NumPredictOpt = 1024,
    seed: Annotated[
        int, typer.Option(envvar="OBENCH_SEED", help="Sampling seed (temperature is 0).")
    ] = 42,
    keep_alive: KeepAliveOpt = "30m",
    out: OutOpt = Path("obench-runs"),
    pull: Annotated[
        bool,
        typer.Option(
            "--pull", envvar="OBENCH_PULL", help="First pull the model on targets that lack it."
        ),
    ] = False,
    give_up_after: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="OBENCH_GIVE_UP_AFTER",
            help="Stop sending to a target after this many connect failures or timeouts in a "
            "row (its remaining requests are recorded as skipped); 0 never gives up.",
        ),
    ] = DEFAULT_GIVE_UP_AFTER,
    max_failure_rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=100,
            metavar="PCT",
            envvar="OBENCH_MAX_FAILURE_RATE",
            help="Exit 4 when a target fails more than this percentage of its measured "
            "requests (it always does when one has no successful request). For CI.",
        ),
    ] = None,
    max_image_side: Annotated[
        int | None,
        typer.Option(
            min=16,
            metavar="PX",
            envvar="OBENCH_MAX_IMAGE_SIDE",
            help="Send images whose longest side is larger as a copy downsized to PX (Pillow, "
            "LANCZOS, aspect and format kept); the run file records each copy's size and "
            "sha256. llama3.2-vision looks at 1120 px at most.",
        ),
    ] = None,
    monitor: MonitorOpt = True,
    image_sizes: Annotated[
        str | None,
        typer.Option(
            envvar="OBENCH_IMAGE_SIZES",
            help="Image-size sweep: send copies of each image resized (Pillow, LANCZOS, aspect "
            "kept) to each longest side in pixels, e.g. 448,672,896,1120, and report each size.",
        ),
    ] = None,
    json_output: SummaryJsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Send the scenario's images to every target, time, validate and score each reply, and report.

    TARGETS: each --target is NAME=URL, optionally followed by Ollama options for that target:
    NAME=URL,KEY=VALUE,... For example `--target gpu=http://localhost:11434 --target
    cpu=http://localhost:11434,num_gpu=0` lets one server play both roles (num_gpu=0 keeps every
    layer on the CPU). The default is gpu=http://localhost:11434 and cpu=http://localhost:11435.
    The speed-up and the change in quality are reported against the target named cpu, else the
    first. NAME=ocr[,threads=N] adds the classic OCR baseline, run in this process (the ocr
    extra): it reads the cctv overlays (title, time stamp) and leaves traffic_level unanswered.

    Two keys are obench's own: api=openai talks to an OpenAI-compatible server (llama-server,
    vLLM, LM Studio, Ollama's /v1; its other options become extra request fields), and
    images=false sends the prompt without the image (text-only model, or what the image costs).
    """
    outcome = Outcome()

    def run() -> RunSummary | None:
        if resume is not None:
            job = _resumed_job(resume, _given(ctx, ctx.params), ctx.params)
            if job.resume is not None and job.resume.finished:
                err_console.print(f"{printable(str(resume))} is complete: nothing to resume")
                show(_file_summary(resume), json_output, render)
                return None
        else:
            job = _new_job(ctx.params)
        print_notices(preflight.check(job.scenario), err_console)
        if pull:
            from ollama_bench.cli.ops import pull_targets  # registered after vision

            pull_targets(job.targets, job.settings.model, force=False, quiet=quiet)
        with progress_bar(err_console, enabled=not quiet) as bar:
            return asyncio.run(
                run_vision(
                    job,
                    outcome,
                    on_probe=lambda infos: print_probe(infos, err_console),
                    observer=lambda total: ProgressReporter(bar, total),
                    on_placement=lambda readings: print_placements(readings, err_console),
                    on_give_up=lambda name, why: print_give_up(name, why, err_console),
                )
            )

    run_and_show(
        run,
        outcome,
        render,
        lambda summary: run_problem(summary, max_failure_rate),
        json_output=json_output,
        debug=debug,
    )


def _image_sizes(text: str | None, max_image_side: int | None) -> list[int] | None:
    """--image-sizes as whole pixels; it and --max-image-side cannot both choose what is sent."""
    if not text:
        return None
    if max_image_side is not None:
        raise UsageError(
            "--image-sizes and --max-image-side both choose the size of the image sent",
            "pass one of them",
        )
    example = "448,672,896,1120"
    levels = parse_levels(text, "--image-sizes", integer=True, example=example)
    return sorted({int(s) for s in levels})


def _set(ctx: typer.Context, name: str) -> bool:
    """Whether the option was given on the command line or by its environment variable."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _given(ctx: typer.Context, values: dict[str, Any]) -> dict[str, object]:
    """The run-shaping flags set on the command line or by environment, normalised as
    resume.recorded_flags records them."""
    given: dict[str, object] = {}
    for name, flag in RUN_FLAGS.items():
        if not _set(ctx, name):
            continue
        value = values[name]
        if name == "scenario":
            value = source_of(value, None).scenario
        elif name == "images":
            value = str(Path(value).resolve())
        elif name == "target":
            value = [target_record(t) for t in target_specs(value, values["header"])]
        elif name == "image_sizes":
            value = _image_sizes(value, None)
        given[flag] = value
    if _set(ctx, "out"):
        raise UsageError("--out cannot be given with --resume", "the run continues in its file")
    return given


def _new_job(values: dict[str, Any]) -> VisionJob:
    runs, until_ci, max_runs = values["runs"], values["until_ci"], values["max_runs"]
    if until_ci is not None and max_runs < runs:
        raise UsageError(
            f"--max-runs {max_runs} is below --runs {runs}", "raise --max-runs or lower --runs"
        )
    max_image_side = values["max_image_side"]
    settings = RequestSettings(
        model=values["model"],
        seed=values["seed"],
        num_ctx=values["num_ctx"],
        num_predict=values["num_predict"],
        keep_alive=values["keep_alive"],
        timeout_s=values["timeout"],
        structured=values["structured"],
        max_image_side_px=max_image_side,
    )
    scenario = load_scenario(values["scenario"], values["images"])
    sizes = _image_sizes(values["image_sizes"], max_image_side)
    scenario = scenario.with_max_image_side(max_image_side)
    return VisionJob(
        scenario=sized_scenario(scenario, sizes) if sizes else scenario,
        settings=settings,
        targets=target_specs(values["target"], values["header"]),
        warmup=values["warmup"],
        runs=runs,
        out=values["out"],
        monitor=values["monitor"],
        give_up_after=values["give_up_after"],
        stop=StopSettings(until_ci_pct=until_ci, max_runs=max_runs),
        source=source_of(values["scenario"], values["images"]),
        image_sizes=sizes,
    )


def _resumed_job(path: Path, given: dict[str, object], values: dict[str, Any]) -> VisionJob:
    """A job with every setting from the run file's header, checked against what it recorded.
    The targets it measured are opened again from the header, with the --header values, unless
    --target names them again (a URL's password is never stored, so it must then)."""
    point: ResumePoint = open_run(path)
    check_flags(point, given)
    header = point.run.header
    assert header.source is not None  # open_run checked
    if values["target"]:
        given_targets = {t.name: t for t in target_specs(values["target"], values["header"])}
        targets = [given_targets[t.name] for t in header.targets if t.usable]
    else:
        targets = []
        for info in header.targets:
            if not info.usable:
                continue  # left out at the start: it stays out of the later rounds
            if "***@" in info.url:
                raise UsageError(
                    f"target {info.name}'s URL had a password, which run files never keep",
                    f"give --target {info.name}=URL beside --resume",
                )
            targets.append(
                TargetSpec(**target_record(info), headers=http_headers(values["header"]))
            )
    images = Path(header.source.images) if header.source.images else None
    side = header.settings.max_image_side_px
    scenario = load_scenario(header.source.scenario, images).with_max_image_side(side)
    job = VisionJob(
        scenario=sized_scenario(scenario, header.image_sizes) if header.image_sizes else scenario,
        settings=header.settings,
        targets=targets,
        warmup=header.warmup,
        runs=header.runs,
        out=path,
        monitor=header.monitoring is not None,
        give_up_after=values["give_up_after"],
        stop=header.stop,
        source=header.source,
        resume=point,
        image_sizes=header.image_sizes,
    )
    check_inputs(point, job.scenario)
    return job


def _file_summary(run_file: Path) -> RunSummary:
    return vision_summary(read_vision_run(run_file), run_file)
