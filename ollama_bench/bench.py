"""One vision benchmark end to end: probe, header, requests, footer, summary.

The caller owns presentation (probe lines, progress) through two callbacks, and gets the summary
even when Ctrl-C cuts the run short: it lands in `Outcome` before the interrupt propagates.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ollama_bench import __version__
from ollama_bench.errors import NoTargetError
from ollama_bench.host import host_info
from ollama_bench.models import (
    RequestSettings,
    RunFooter,
    RunHeader,
    Sample,
    TargetInfo,
    TargetSpec,
)
from ollama_bench.runner import Observer, Step, execute, plan
from ollama_bench.scenarios import Scenario
from ollama_bench.store import RunWriter, default_run_path
from ollama_bench.summary import RunSummary, summarise
from ollama_bench.targets import OllamaTarget


@dataclass
class VisionJob:
    scenario: Scenario
    settings: RequestSettings
    targets: list[TargetSpec]
    warmup: int
    runs: int
    out: Path  # a .jsonl file, or a folder for a time-stamped one


@dataclass
class Outcome:
    """Filled as the run goes, so an interrupted run still has its samples and summary."""

    samples: list[Sample] = field(default_factory=list)
    run_file: Path | None = None
    summary: RunSummary | None = None


class _Recorder:
    """Runner observer: each sample to the run file first, then to the caller's observer."""

    def __init__(self, writer: RunWriter, outcome: Outcome, observer: Observer) -> None:
        self.writer, self.outcome, self.observer = writer, outcome, observer

    def started(self, step: Step) -> None:
        self.observer.started(step)

    def finished(self, sample: Sample) -> None:
        self.writer.append(sample)
        self.outcome.samples.append(sample)
        self.observer.finished(sample)


def _header(job: VisionJob, infos: list[TargetInfo], started_at: datetime) -> RunHeader:
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
    )


async def run_vision(
    job: VisionJob,
    outcome: Outcome,
    *,
    on_probe: Callable[[list[TargetInfo]], None],
    observer: Callable[[int], Observer],
) -> RunSummary:
    """Raises NoTargetError (exit 3) when no target can be used; otherwise always summarises."""
    targets = {spec.name: OllamaTarget(spec, job.settings) for spec in job.targets}
    try:
        infos = list(await asyncio.gather(*(t.probe() for t in targets.values())))
        on_probe(infos)
        usable = [info.name for info in infos if info.usable]
        if not usable:
            raise NoTargetError(
                "no target is usable: " + "; ".join(f"{i.name}: {i.error}" for i in infos),
                "start Ollama (docker compose up -d), pull the model, or pass --target NAME=URL",
            )
        started_at = datetime.now(UTC)
        header = _header(job, infos, started_at)
        out = job.out
        path = (
            out if out.suffix == ".jsonl" else default_run_path(out, job.scenario.name, started_at)
        )
        writer = RunWriter(path, header)
        outcome.run_file = path
        steps = plan(usable, job.scenario.images, job.warmup, job.runs)
        interrupted = True
        try:
            recorder = _Recorder(writer, outcome, observer(len(steps)))
            await execute(
                steps, targets, job.scenario, structured=job.settings.structured, observer=recorder
            )
            interrupted = False
        finally:
            finished_at = datetime.now(UTC)
            writer.close(
                RunFooter(
                    finished_at=finished_at,
                    samples=writer.records,
                    interrupted=interrupted,
                    elapsed_s=(finished_at - started_at).total_seconds(),
                )
            )
            outcome.summary = summarise(header, outcome.samples, str(path), interrupted=interrupted)
        return outcome.summary
    finally:
        for target in targets.values():
            await target.__aexit__(None, None, None)
