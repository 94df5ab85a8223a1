"""`obench load`: closed-loop concurrency and open-loop request-rate sweeps, target by target."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from ollama_bench.cli.app import (
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
    TargetOpt,
    TimeoutOpt,
    app,
    parse_levels,
    run_and_show,
    target_specs,
)
from ollama_bench.console import err_console
from ollama_bench.load.bench import LoadJob, LoadOutcome, run_load
from ollama_bench.load.records import StepSpec
from ollama_bench.load.schedule import plan_steps
from ollama_bench.load.summary import LoadSummary, load_problem
from ollama_bench.models import RequestSettings
from ollama_bench.views.load_tables import LoadProgress, render_load
from ollama_bench.views.tables import print_notices, print_probe, progress_bar
from ollama_bench.vision import preflight
from ollama_bench.vision.scenarios import load_scenario

LOAD_EXIT = (
    "Exit codes: 0 the sweep completed (failed requests are counted, not fatal); 2 usage or "
    "input error; 3 no target usable (unreachable or model missing); 4 the sweep completed but "
    "a target had no successful measured request; 74 the run file could not be written (disk "
    "full): the sweep stopped, what was measured is summarised; 130, 143, 129 interrupted by "
    "Ctrl-C, SIGTERM or SIGHUP (finished requests are kept and summarised)."
)


@app.command(epilog=LOAD_EXIT)
def load(
    scenario: ScenarioOpt = "cctv",
    target: TargetOpt = None,
    header: HeaderOpt = None,
    model: BenchModelOpt = "llama3.2-vision",
    images: Annotated[
        Path | None,
        typer.Option(envvar="OBENCH_IMAGES", help="Folder of your own images, sent in turn."),
    ] = None,
    concurrency: Annotated[
        str | None,
        typer.Option(
            envvar="OBENCH_CONCURRENCY",
            help="Closed-loop steps: requests kept in flight, each sent when one ends, e.g. "
            "1,2,4,8. Default 1,2,4,8 when --rate is not given either.",
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            envvar="OBENCH_RATE",
            help="Open-loop steps: mean requests/s of a seeded Poisson schedule, sent on time "
            "whether or not earlier ones finished, e.g. 0.5,1,2.",
        ),
    ] = None,
    requests: Annotated[
        int,
        typer.Option(min=1, envvar="OBENCH_REQUESTS", help="Most requests a step sends."),
    ] = 32,
    duration: Annotated[
        float,
        typer.Option(
            min=0.1,
            envvar="OBENCH_DURATION",
            help="Seconds after which a step sends no more requests (those in flight finish "
            "or hit --timeout).",
        ),
    ] = 300.0,
    slo_latency: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            envvar="OBENCH_SLO_LATENCY",
            help="Latency objective in seconds: goodput counts the completed requests within it.",
        ),
    ] = None,
    warmup: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="OBENCH_WARMUP",
            help="Sequential warm-up requests per target before its first step (not counted).",
        ),
    ] = 1,
    structured: FormatOpt = True,
    timeout: TimeoutOpt = 600.0,
    num_ctx: NumCtxOpt = 4096,
    num_predict: NumPredictOpt = 1024,
    seed: Annotated[
        int,
        typer.Option(
            envvar="OBENCH_SEED",
            help="Sampling seed, and the seed of the open-loop arrival schedules.",
        ),
    ] = 42,
    keep_alive: KeepAliveOpt = "30m",
    out: OutOpt = Path("obench-runs"),
    monitor: MonitorOpt = True,
    json_output: SummaryJsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Load each target with concurrent requests or a request rate, one target after another.

    For each target: --warmup sequential requests, then every step: closed-loop --concurrency
    levels first, then open-loop --rate levels. A step ends after --requests requests or
    --duration seconds. Reports throughput, latency and TTFT percentiles, queueing, goodput
    under --slo-latency, ITL, energy, and where each target saturates (the knee).
    """
    outcome = LoadOutcome()

    def run() -> LoadSummary:
        settings = RequestSettings(
            model=model,
            seed=seed,
            num_ctx=num_ctx,
            num_predict=num_predict,
            keep_alive=keep_alive,
            timeout_s=timeout,
            structured=structured,
        )
        job = LoadJob(
            scenario=load_scenario(scenario, images),
            settings=settings,
            targets=target_specs(target, header),
            steps=_steps(concurrency, rate, requests, duration, seed),
            warmup=warmup,
            out=out,
            slo_latency_s=slo_latency,
            monitor=monitor,
        )
        print_notices(preflight.check(job.scenario), err_console)
        with progress_bar(err_console, enabled=not quiet) as bar:
            return asyncio.run(
                run_load(
                    job,
                    outcome,
                    on_probe=lambda infos: print_probe(infos, err_console),
                    observer=LoadProgress(bar),
                )
            )

    run_and_show(run, outcome, render_load, load_problem, json_output=json_output, debug=debug)


def _steps(
    concurrency: str | None, rate: str | None, requests: int, duration: float, seed: int
) -> list[StepSpec]:
    """--concurrency and --rate as steps (1,2,4,8 when neither is given), each bounded by
    --requests and --duration."""
    closed = parse_levels(concurrency, "--concurrency", integer=True) if concurrency else []
    rates = parse_levels(rate, "--rate", integer=False) if rate else []
    if not closed and not rates:
        closed = [1, 2, 4, 8]
    return plan_steps(
        [int(c) for c in closed], rates, max_requests=requests, max_duration_s=duration, seed=seed
    )
