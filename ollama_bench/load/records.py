"""The lines of a load run file (see store.py): a header recording the schedule, one sample per
request, a line per finished step, utilisation readings, a footer.

Field names are a public contract, as in models.py: `_ns` integers from `perf_counter_ns`, `_s`
floats, rates in `_per_s`. Times within a step count from the step's start on the client clock.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ollama_bench.errors import UsageError
from ollama_bench.models import (
    Phase,
    PlacementReading,
    RequestError,
    ScenarioHeader,
    Timing,
    UtilisationSample,
    Validation,
)
from ollama_bench.store import invalid_record, read_lines

ORDER = "one target at a time: its warm-up and every step, then the next target's"


class StepSpec(BaseModel):
    """One step of the sweep: a closed-loop concurrency or an open-loop Poisson rate."""

    index: int
    mode: Literal["concurrency", "rate"]
    concurrency: int | None = None  # closed loop: requests kept in flight
    rate_per_s: float | None = None  # open loop: mean Poisson arrival rate
    max_requests: int  # the step sends no more than this many requests
    max_duration_s: float  # and none after this many seconds
    seed: int | None = None  # open loop: the arrival schedule's seed (same for every target)

    @property
    def label(self) -> str:
        if self.mode == "concurrency":
            return f"c={self.concurrency}"
        return f"{self.rate_per_s:g} req/s"


class LoadHeader(ScenarioHeader):
    """First line of a load run file: the schedule beside what every scenario run records. Warm-up
    requests are sequential, before a target's first step; images are sent in turn (request k
    gets image k mod n)."""

    benchmark: Literal["load"] = "load"
    steps: list[StepSpec]
    slo_latency_s: float | None = None  # goodput counts completed requests within this latency
    order: str = ORDER


class LoadSample(BaseModel):
    """One request of a load run, with when it was due, when it went out and what came back."""

    kind: Literal["sample"] = "sample"
    seq: int
    target: str
    step: int | None  # StepSpec.index; None for a warm-up request
    phase: Phase
    image: str
    image_sha256: str
    started_at: datetime
    scheduled_ns: int | None = None  # open loop: due this long after the step started
    sent_ns: int  # sent this long after the step started
    lag_ns: int | None = None  # open loop: sent − scheduled, the client's own lateness
    in_flight: int  # this step's requests in flight when it was sent, itself included
    ok: bool
    error: RequestError | None = None
    timing: Timing
    reply: str = ""
    validation: Validation | None = None
    score: dict[str, float] | None = None

    @property
    def done_ns(self) -> int:
        """When the reply ended, after the step started."""
        return self.sent_ns + self.timing.latency_ns


class StepDone(BaseModel):
    """Written when a step ends: how long it ran and what stopped it."""

    kind: Literal["step"] = "step"
    target: str
    step: int
    started_at: datetime
    elapsed_s: float  # step start → last reply
    sent: int
    stopped_by: Literal["requests", "duration", "interrupt"]


class LoadFooter(BaseModel):
    kind: Literal["footer"] = "footer"
    finished_at: datetime
    samples: int
    interrupted: bool
    elapsed_s: float
    placements: list[PlacementReading] = Field(default_factory=list)


class LoadRun(BaseModel):
    header: LoadHeader
    samples: list[LoadSample]
    steps: list[StepDone]
    utilisation: list[UtilisationSample]
    footer: LoadFooter | None  # None when the run did not finish


def is_load_header(record: dict[str, Any]) -> bool:
    return record.get("kind") == "header" and record.get("benchmark") == "load"


def read_load_run(path: Path) -> LoadRun:
    """A load run file, even one without a footer (a torn last line is dropped)."""
    records = read_lines(path)
    if not records or not is_load_header(records[0]):
        raise UsageError(
            f"{path} does not start with a load run header", "pass an obench load file"
        )
    return load_run_of(records, path)


def load_run_of(records: list[dict[str, Any]], path: Path) -> LoadRun:
    """The records of a load run file (read_lines), validated."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for record in records[1:]:
        by_kind.setdefault(str(record.get("kind")), []).append(record)
    try:
        footers = [LoadFooter.model_validate(r) for r in by_kind.get("footer", [])]
        return LoadRun(
            header=LoadHeader.model_validate(records[0]),
            samples=[LoadSample.model_validate(r) for r in by_kind.get("sample", [])],
            steps=[StepDone.model_validate(r) for r in by_kind.get("step", [])],
            utilisation=[
                UtilisationSample.model_validate(r) for r in by_kind.get("utilisation", [])
            ],
            footer=footers[-1] if footers else None,
        )
    except ValidationError as exc:
        raise invalid_record(path, exc) from None
