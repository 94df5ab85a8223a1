"""One vision benchmark end to end: probe, header, requests, footer, summary.

The caller owns presentation (probe lines, progress, placement) through callbacks, and gets the
summary even when Ctrl-C cuts the run short: it lands in `Outcome` before the interrupt
propagates. Utilisation samples (ops/utilisation.py) go to the run file as the run goes. A
resumed run (vision/resume.py) appends a segment to its file and is summarised as one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
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
    RunSource,
    Sample,
    Segment,
    StopOutcome,
    StopSettings,
    TargetInfo,
    TargetSpec,
    UtilisationSample,
)
from ollama_bench.ops.host import host_info
from ollama_bench.ops.utilisation import Monitor
from ollama_bench.store import RunWriter, run_path
from ollama_bench.targets import open_target
from ollama_bench.targets.base import Target, TargetFailure
from ollama_bench.vision.health import DEFAULT_GIVE_UP_AFTER, TargetHealth
from ollama_bench.vision.resume import ResumePoint, check_targets
from ollama_bench.vision.runner import (
    Observer,
    Rounds,
    Step,
    execute,
    measure,
    warmup_steps,
)
from ollama_bench.vision.scenarios import Scenario
from ollama_bench.vision.stop import precision_rule, widest_half_width
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
    stop: StopSettings = field(default_factory=StopSettings)
    source: RunSource | None = None  # recorded so that --resume can load the scenario again
    resume: ResumePoint | None = None  # continue this run file instead of starting one
    image_sizes: list[int] | None = None  # the scenario's images are resized copies (sizes.py)


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
    footer, which is written on Ctrl-C too; `obench report` shows them. A target whose server
    cannot tell (OpenAI-compatible) gets no reading.
    """

    async def one(name: str) -> PlacementReading | None:
        at = datetime.now(UTC)
        try:
            placement = await targets[name].placement()
        except TargetFailure as exc:
            return PlacementReading(
                target=name, after=after, at=at, placement=Placement(loaded=False), error=str(exc)
            )
        if placement is None:
            return None
        return PlacementReading(target=name, after=after, at=at, placement=placement)

    readings = await asyncio.gather(*(one(name) for name in names))
    return [reading for reading in readings if reading is not None]


async def probe_targets(
    targets: dict[str, Target], on_probe: Callable[[list[TargetInfo]], None]
) -> tuple[list[TargetInfo], list[str]]:
    """Probe every target at once; (what each said, the usable ones' names). Raises
    NoTargetError (exit 3) when none is usable."""
    infos = list(await asyncio.gather(*(t.probe() for t in targets.values())))
    on_probe(infos)
    usable = [info.name for info in infos if info.usable]
    if not usable:
        raise NoTargetError(
            "no target is usable: " + "; ".join(f"{i.name}: {i.error}" for i in infos),
            "start Ollama (docker compose up -d), pull the model, or pass --target NAME=URL",
        )
    return infos, usable


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
        image_sizes=job.image_sizes,
        stop=job.stop,
        source=job.source,
    )


def _open(
    job: VisionJob,
    infos: list[TargetInfo],
    started_at: datetime,
    monitor: Monitor,
    outcome: Outcome,
) -> tuple[RunHeader, RunWriter, int, int]:
    """A new run file with its header; or the resumed one, a segment line appended, its samples
    put in `outcome` so that the run stops and is summarised as one. Returns the header, the
    writer, the segment number and the first free sequence number."""
    point = job.resume
    if point is None:
        header = _header(job, infos, started_at, monitor.monitoring)
        path = run_path(job.out, job.scenario.name, started_at, header.run_id)
        return header, RunWriter(path, header), 0, 0
    writer = RunWriter(point.path, None)
    segment = Segment(
        index=point.segment,
        started_at=started_at,
        samples_before=len(point.run.samples),
        targets=infos,
    )
    writer.append(segment)
    outcome.samples += point.run.samples
    outcome.utilisation += point.run.utilisation
    return point.run.header, writer, point.segment, point.next_seq


def _stop_outcome(
    job: VisionJob, names: list[str], samples: list[Sample], rounds: int, stopped: bool
) -> StopOutcome:
    pct = job.stop.until_ci_pct
    widest = widest_half_width(names, samples, rounds) if pct is not None else None
    if widest is None:  # no --until-ci, or no speed-up it could measure
        return StopOutcome(reason="runs", rounds=rounds)
    return StopOutcome(
        reason="precision" if stopped else "max-runs",
        rounds=rounds,
        half_width_pct=widest * 100 if math.isfinite(widest) else None,
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
        infos, usable = await probe_targets(targets, on_probe)
        point = job.resume
        if point is not None:
            check_targets(point, infos)
        if job.monitor:
            usable_specs = [  # an in-process target has no container or server of its own
                t.spec for name, t in targets.items() if name in usable and t.spec.api != "ocr"
            ]
            monitor = await asyncio.to_thread(Monitor.plan, usable_specs)
        started_at = datetime.now(UTC)
        header, writer, segment, first_seq = _open(job, infos, started_at, monitor, outcome)
        path = writer.path
        outcome.run_file = path
        images = job.scenario.images
        warmup = warmup_steps(usable, images, job.warmup, segment)
        health = TargetHealth(job.give_up_after, on_give_up)

        def measuring() -> list[str]:
            """The targets whose speed-ups --until-ci waits for, and whom to ask where the model
            runs: not those given up on (they would answer no better)."""
            return [name for name in usable if not health.given_up(name)]

        until = job.stop.until_ci_pct
        rounds = Rounds(
            least=job.runs,
            most=job.stop.max_runs if until is not None else job.runs,
            stop=None if until is None else precision_rule(measuring, outcome.samples, until),
            done=point.done if point is not None else frozenset(),
            segment=segment,
        )
        planned = len(warmup) + sum(
            len(rounds.pending(usable, images, repeat)) for repeat in range(job.runs)
        )
        interrupted = True
        stop: StopOutcome | None = None

        def keep(sample: UtilisationSample) -> None:
            outcome.utilisation.append(sample)
            with contextlib.suppress(RunFileError):  # the request loop stops on its next write
                writer.append(sample)

        monitor.start(keep)
        try:
            recorder = _Recorder(writer, outcome, observer(planned))
            structured = job.settings.structured
            seq = await execute(
                warmup,
                targets,
                job.scenario,
                structured=structured,
                observer=recorder,
                first_seq=first_seq,
                health=health,
            )
            outcome.placements += await read_placements(targets, measuring(), "warmup")
            on_placement(outcome.placements)
            complete, stopped = await measure(
                rounds,
                targets,
                usable,
                job.scenario,
                structured=structured,
                observer=recorder,
                first_seq=seq,
                health=health,
            )
            stop = _stop_outcome(job, measuring(), outcome.samples, complete, stopped)
            outcome.placements += await read_placements(targets, measuring(), "run")
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
                    stop=stop,
                    segment=segment,
                )
            )
            outcome.summary = summarise(
                header,
                outcome.samples,
                str(path),
                interrupted=interrupted,
                placements=outcome.placements,
                utilisation=outcome.utilisation,
                stop=stop,
                segments=segment + 1,
            )
        if writer.failure is not None:  # every request is on disk, but the footer did not fit
            raise writer.failure
        return outcome.summary
    finally:
        monitor.stop()
        for target in targets.values():
            await target.__aexit__(None, None, None)
