"""One vision benchmark end to end: probe, header, requests, footer, summary.

The caller owns presentation (probe lines, progress, placement) through callbacks, and gets the
summary even when Ctrl-C cuts the run short: it lands in `Outcome` before the interrupt
propagates. Utilisation samples (ops/utilisation.py) go to the run file as the run goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ollama_bench import __version__
from ollama_bench.errors import NoTargetError, RunFileError
from ollama_bench.models import (
    Monitoring,
    Placement,
    PlacementReading,
    RequestSettings,
    RunFooter,
    RunHeader,
    Sample,
    TargetInfo,
    TargetSpec,
    UtilisationSample,
)
from ollama_bench.ops.host import host_info
from ollama_bench.ops.utilisation import Monitor
from ollama_bench.store import RunWriter, default_run_path
from ollama_bench.targets import open_target
from ollama_bench.targets.base import Target, TargetFailure
from ollama_bench.vision.health import DEFAULT_GIVE_UP_AFTER, TargetHealth
from ollama_bench.vision.runner import Observer, Step, execute, plan
from ollama_bench.vision.scenarios import Scenario
from ollama_bench.vision.summary import RunSummary, summarise


@dataclass
class VisionJob:
    scenario: Scenario
    settings: RequestSettings
    targets: list[TargetSpec]
    warmup: int
    runs: int
    out: Path  # a .jsonl file, or a folder for a time-stamped one
    monitor: bool = True  # sample container CPU/memory and GPUs during the run
    give_up_after: int = DEFAULT_GIVE_UP_AFTER  # connect failures/timeouts in a row; 0: never


@dataclass
class Outcome:
    """Filled as the run goes, so an interrupted run still has its samples and summary."""

    samples: list[Sample] = field(default_factory=list)
    placements: list[PlacementReading] = field(default_factory=list)
    utilisation: list[UtilisationSample] = field(default_factory=list)
    run_file: Path | None = None
    summary: RunSummary | None = None


class _Recorder:
    """Runner observer: each sample to the run file first, then to the caller's observer."""

    def __init__(self, writer: RunWriter, outcome: Outcome, observer: Observer) -> None:
        self.writer, self.outcome, self.observer = writer, outcome, observer

    def started(self, step: Step) -> None:
        self.observer.started(step)

    def finished(self, sample: Sample) -> None:
        self.outcome.samples.append(sample)  # summarised even if the disk is full
        self.writer.append(sample)  # raises RunFileError then, which stops the run
        self.observer.finished(sample)


async def read_placements(
    targets: dict[str, Target], names: list[str], after: Literal["warmup", "run"]
) -> list[PlacementReading]:
    """Where each target has the model loaded, from `/api/ps`.

    Placement is known only once the model is loaded, and the header is written before any
    request so that a crash loses nothing. Loading the model during the probe would take the cold
    load out of the warm-up samples, where it is measured. So placement is read right after the
    warm-up (where the measured requests will run: the warm-up loaded the model with the run's
    options) and again at the end (a reload may have moved it), and both readings go into the
    footer, which is written on Ctrl-C too; `obench report` shows them.
    """

    async def one(name: str) -> PlacementReading:
        at = datetime.now(UTC)
        try:
            placement = await targets[name].placement()
            return PlacementReading(target=name, after=after, at=at, placement=placement)
        except TargetFailure as exc:
            return PlacementReading(
                target=name, after=after, at=at, placement=Placement(loaded=False), error=str(exc)
            )

    return list(await asyncio.gather(*(one(name) for name in names)))


def _header(
    job: VisionJob, infos: list[TargetInfo], started_at: datetime, monitoring: Monitoring
) -> RunHeader:
    return RunHeader(
        tool_version=__version__,
        run_id=uuid.uuid4().hex,
        started_at=started_at,
        scenario=job.scenario.name,
        prompt_sha256=job.scenario.prompt_sha256,
        schema_sent=job.scenario.schema if job.settings.structured else None,
        settings=job.settings,
        warmup=job.warmup,
        runs=job.runs,
        targets=infos,
        images=[image.info() for image in job.scenario.images],
        host=host_info(),
        labels=job.scenario.labels,
        monitoring=monitoring if monitoring.enabled else None,
    )


async def run_vision(
    job: VisionJob,
    outcome: Outcome,
    *,
    on_probe: Callable[[list[TargetInfo]], None],
    observer: Callable[[int], Observer],
    on_placement: Callable[[list[PlacementReading]], None] = lambda readings: None,
    on_give_up: Callable[[str, str], None] = lambda target, reason: None,
) -> RunSummary:
    """Raises NoTargetError (exit 3) when no target can be used; otherwise always summarises."""
    overlays = job.scenario.overlay_task()
    targets = {spec.name: open_target(spec, job.settings, overlays) for spec in job.targets}
    monitor = Monitor.disabled()
    try:
        infos = list(await asyncio.gather(*(t.probe() for t in targets.values())))
        on_probe(infos)
        usable = [info.name for info in infos if info.usable]
        if not usable:
            raise NoTargetError(
                "no target is usable: " + "; ".join(f"{i.name}: {i.error}" for i in infos),
                "start Ollama (docker compose up -d), pull the model, or pass --target NAME=URL",
            )
        if job.monitor:
            usable_specs = [  # an in-process target has no container or server of its own
                t.spec for name, t in targets.items() if name in usable and t.spec.api != "ocr"
            ]
            monitor = await asyncio.to_thread(Monitor.plan, usable_specs)
        started_at = datetime.now(UTC)
        header = _header(job, infos, started_at, monitor.monitoring)
        out = job.out
        path = (
            out
            if out.suffix == ".jsonl"
            else default_run_path(out, job.scenario.name, started_at, header.run_id)
        )
        writer = RunWriter(path, header)
        outcome.run_file = path
        steps = plan(usable, job.scenario.images, job.warmup, job.runs)
        warmup = [step for step in steps if step.phase == "warmup"]
        measured = [step for step in steps if step.phase == "measured"]
        interrupted = True

        def keep(sample: UtilisationSample) -> None:
            outcome.utilisation.append(sample)
            with contextlib.suppress(RunFileError):  # the request loop stops on its next write
                writer.append(sample)

        monitor.start(keep)
        health = TargetHealth(job.give_up_after, on_give_up)

        def alive() -> list[str]:
            """Whom to ask where the model runs: a target given up on would answer /api/ps no
            better, and only Ollama has such a route."""
            ollama = [name for name in usable if targets[name].spec.api == "ollama"]
            return [name for name in ollama if not health.given_up(name)]

        try:
            recorder = _Recorder(writer, outcome, observer(len(steps)))
            structured = job.settings.structured
            await execute(
                warmup,
                targets,
                job.scenario,
                structured=structured,
                observer=recorder,
                health=health,
            )
            outcome.placements += await read_placements(targets, alive(), "warmup")
            on_placement(outcome.placements)
            await execute(
                measured,
                targets,
                job.scenario,
                structured=structured,
                observer=recorder,
                first_seq=len(warmup),
                health=health,
            )
            outcome.placements += await read_placements(targets, alive(), "run")
            interrupted = False
        finally:
            monitor.stop()
            finished_at = datetime.now(UTC)
            writer.close(
                RunFooter(
                    finished_at=finished_at,
                    samples=len(outcome.samples),
                    interrupted=interrupted,
                    elapsed_s=(finished_at - started_at).total_seconds(),
                    placements=outcome.placements,
                )
            )
            outcome.summary = summarise(
                header,
                outcome.samples,
                str(path),
                interrupted=interrupted,
                placements=outcome.placements,
                utilisation=outcome.utilisation,
            )
        if writer.failure is not None:  # every request is on disk, but the footer did not fit
            raise writer.failure
        return outcome.summary
    finally:
        monitor.stop()
        for target in targets.values():
            await target.__aexit__(None, None, None)
