"""One load sweep end to end: probe, header, each target's warm-up and steps in turn, footer,
summary.

Targets are loaded one after another, never together: a target's steps would otherwise compete
with another's for the client and, on one machine, for the same CPU. Every request is on disk
as it ends; Ctrl-C (and SIGTERM or SIGHUP, which cli/signals.py turns into it) ends the step in
progress (its unfinished requests are dropped) and the summary of everything finished lands in
`LoadOutcome` before the interrupt propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ollama_bench import __version__
from ollama_bench.errors import RunFileError
from ollama_bench.load.engine import TargetPool, run_step, warm_up
from ollama_bench.load.records import (
    LoadFooter,
    LoadHeader,
    LoadSample,
    StepDone,
    StepSpec,
)
from ollama_bench.load.summary import LoadSummary, summarise_load
from ollama_bench.models import (
    Monitoring,
    PlacementReading,
    RequestSettings,
    TargetInfo,
    TargetSpec,
    UtilisationSample,
)
from ollama_bench.ops.host import host_info
from ollama_bench.ops.utilisation import Monitor
from ollama_bench.store import RunWriter, run_path
from ollama_bench.targets import open_target
from ollama_bench.vision.bench import probe_targets, read_placements
from ollama_bench.vision.scenarios import Scenario


@dataclass
class LoadJob:
    scenario: Scenario
    settings: RequestSettings
    targets: list[TargetSpec]
    warmup: int  # sequential requests per target before its first step
    steps: list[StepSpec]
    out: Path  # a .jsonl file, or a folder for a time-stamped one
    slo_latency_s: float | None = None
    monitor: bool = True


@dataclass
class LoadOutcome:
    """Filled as the run goes, so an interrupted run still has its samples and summary."""

    samples: list[LoadSample] = field(default_factory=list)
    placements: list[PlacementReading] = field(default_factory=list)
    utilisation: list[UtilisationSample] = field(default_factory=list)
    run_file: Path | None = None
    summary: LoadSummary | None = None


class LoadObserver(Protocol):
    def step_started(self, target: str, step: StepSpec | None, requests: int) -> None: ...
    def finished(self, sample: LoadSample) -> None: ...


def _header(
    job: LoadJob, infos: list[TargetInfo], started_at: datetime, monitoring: Monitoring
) -> LoadHeader:
    return LoadHeader(
        tool_version=__version__,
        run_id=uuid.uuid4().hex,
        started_at=started_at,
        scenario=job.scenario.name,
        prompt_sha256=job.scenario.prompt_sha256,
        schema_sent=job.scenario.schema if job.settings.structured else None,
        settings=job.settings,
        warmup=job.warmup,
        steps=job.steps,
        slo_latency_s=job.slo_latency_s,
        targets=infos,
        images=[image.info() for image in job.scenario.images],
        host=host_info(),
        labels=job.scenario.labels,
        monitoring=monitoring if monitoring.enabled else None,
    )


async def _load_target(
    name: str,
    pool: TargetPool,
    job: LoadJob,
    writer: RunWriter,
    outcome: LoadOutcome,
    observer: LoadObserver,
    keep: Callable[[LoadSample], None],
    seq: Iterator[int],
) -> None:
    """One target's warm-up, placement after it, and every step in order."""
    structured, images = job.settings.structured, job.scenario.images
    if job.warmup:
        observer.step_started(name, None, job.warmup)
        await warm_up(
            name,
            pool,
            job.scenario,
            images,
            job.warmup,
            structured=structured,
            sink=keep,
            next_seq=lambda: next(seq),
        )
    outcome.placements += await read_placements({name: pool.first}, [name], "warmup")
    for step in job.steps:
        observer.step_started(name, step, step.max_requests)
        result = await run_step(
            name,
            pool,
            job.scenario,
            images,
            step,
            structured=structured,
            sink=keep,
            next_seq=lambda: next(seq),
        )
        done = StepDone(
            target=name,
            step=step.index,
            started_at=result.started_at,
            elapsed_s=result.elapsed_s,
            sent=result.sent,
            stopped_by=result.stopped_by,
        )
        writer.append(done)


async def run_load(
    job: LoadJob,
    outcome: LoadOutcome,
    *,
    on_probe: Callable[[list[TargetInfo]], None],
    observer: LoadObserver,
) -> LoadSummary:
    """Raises NoTargetError (exit 3) when no target can be used, RunFileError (exit 74) when the
    run file cannot be written (after summarising what was measured); otherwise summarises."""
    overlays = job.scenario.overlay_task()
    targets = {spec.name: open_target(spec, job.settings, overlays) for spec in job.targets}
    monitor = Monitor.disabled()
    try:
        infos, usable = await probe_targets(targets, on_probe)
        for image in job.scenario.images:
            _ = image.data  # read every image now, not while a step's clock runs
        if job.monitor:
            usable_specs = [  # an in-process target has no container or server of its own
                t.spec for name, t in targets.items() if name in usable and t.spec.api != "ocr"
            ]
            monitor = await asyncio.to_thread(Monitor.plan, usable_specs)
        started_at = datetime.now(UTC)
        header = _header(job, infos, started_at, monitor.monitoring)
        path = run_path(job.out, f"{job.scenario.name}-load", started_at, header.run_id)
        writer = RunWriter(path, header)
        outcome.run_file = path
        seq = itertools.count()
        interrupted = True

        def keep(sample: LoadSample) -> None:
            outcome.samples.append(sample)  # summarised even if the disk is full
            writer.append(sample)  # raises RunFileError then, which stops the run
            observer.finished(sample)

        def keep_utilisation(sample: UtilisationSample) -> None:
            outcome.utilisation.append(sample)
            with contextlib.suppress(RunFileError):  # the request loop stops on its next write
                writer.append(sample)

        monitor.start(keep_utilisation)
        try:
            for name in usable:
                pool = TargetPool(targets[name])
                try:
                    await _load_target(name, pool, job, writer, outcome, observer, keep, seq)
                finally:
                    await pool.close()
                outcome.placements += await read_placements(targets, [name], "run")
            interrupted = False
        finally:
            monitor.stop()
            finished_at = datetime.now(UTC)
            writer.close(
                LoadFooter(
                    finished_at=finished_at,
                    samples=len(outcome.samples),
                    interrupted=interrupted,
                    elapsed_s=(finished_at - started_at).total_seconds(),
                    placements=outcome.placements,
                )
            )
            outcome.summary = summarise_load(
                header,
                outcome.samples,
                str(path),
                interrupted=interrupted,
                utilisation=outcome.utilisation,
                placements=outcome.placements,
            )
        if writer.failure is not None:  # every request is on disk, but the footer did not fit
            raise writer.failure
        return outcome.summary
    finally:
        monitor.stop()
        for target in targets.values():
            await target.__aexit__(None, None, None)
