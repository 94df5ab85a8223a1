"""`obench load`: closed-loop concurrency and open-loop request-rate sweeps, target by target."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

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
    target_specs,
)
from ollama_bench.cli.signals import stops_like_ctrl_c
from ollama_bench.console import err_console, fail, interrupted, show
from ollama_bench.errors import FailedRunError, ObenchError, RunFileError
from ollama_bench.load.bench import LoadJob, LoadOutcome, run_load
from ollama_bench.load.schedule import plan_steps
from ollama_bench.load.summary import load_problem
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
    with stops_like_ctrl_c() as stop:
        try:
            job = _job(
                scenario=load_scenario(scenario, images),
                settings=RequestSettings(
                    model=model,
                    seed=seed,
                    num_ctx=num_ctx,
                    num_predict=num_predict,
                    keep_alive=keep_alive,
                    timeout_s=timeout,
                    structured=structured,
                ),
                targets=target_specs(target, header),
                levels=(concurrency, rate),
                bounds=(requests, duration),
                warmup=warmup,
                out=out,
                slo_latency_s=slo_latency,
                monitor=monitor,
            )
            print_notices(preflight.check(job.scenario), err_console)
            with progress_bar(err_console, enabled=not quiet) as bar:
                summary = asyncio.run(
                    run_load(
                        job,
                        outcome,
                        on_probe=lambda infos: print_probe(infos, err_console),
                        observer=LoadProgress(bar),
                    )
                )
        except RunFileError as exc:  # the disk filled: what was measured is shown, then why
            if outcome.summary is not None:
                show(outcome.summary, json_output, render_load)
            raise fail(exc, debug) from None
        except ObenchError as exc:
            raise fail(exc, debug) from None
        except KeyboardInterrupt:
            summary_so_far, run_file = outcome.summary, outcome.run_file
            raise interrupted(stop, summary_so_far, run_file, json_output, render_load) from None
    show(summary, json_output, render_load)
    if problem := load_problem(summary):
        hint = f"each failed request is in {summary.run_file} with its error"
        raise fail(FailedRunError(problem, hint), debug)


def _job(
    *,
    levels: tuple[str | None, str | None],
    bounds: tuple[int, float],
    **fields: Any,
) -> LoadJob:
    """The job from the parsed options: --concurrency and --rate as steps (1,2,4,8 when neither
    is given), each bounded by --requests and --duration."""
    concurrency, rate = levels
    closed = parse_levels(concurrency, "--concurrency", integer=True) if concurrency else []
    rates = parse_levels(rate, "--rate", integer=False) if rate else []
    if not closed and not rates:
        closed = [1, 2, 4, 8]
    steps = plan_steps(
        [int(c) for c in closed],
        rates,
        max_requests=bounds[0],
        max_duration_s=bounds[1],
        seed=fields["settings"].seed,
    )
    return LoadJob(steps=steps, **fields)
