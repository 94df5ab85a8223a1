"""What the figures and the failure table of a report draw, from a run's samples. Pure.

The summary (summary.py) reduces each target to a few figures; a report also shows every request
(latency per target and image), where each target's time goes, accuracy per image, and each
request that failed or whose reply did not fit the schema, with what came back. Measured
requests only, as everywhere else.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel, Field

from ollama_bench.models import FieldError, RunHeader, Sample
from ollama_bench.untrusted import clip

NS_PER_S = 1e9
#: Characters of a reply a report keeps (the run file has it whole): enough to see what went
#: wrong, bounded so that a hostile 10 MB reply cannot make the report unreadable.
REPLY_CHARS = 4000
#: Problem samples a report lists; the rest are counted.
MAX_PROBLEMS = 200


class ImageLatencies(BaseModel):
    """Every completed measured request of one target on one image."""

    image: str
    latencies_s: list[float]
    median_s: float
    accuracy: float | None = None  # mean overall score of its replies; None without a label


class TimeSplit(BaseModel):
    """Where a target's time goes, as means over completed requests with trusted server timings
    (so that the parts add up to the mean latency): model load, prompt evaluation (image
    included), decode, and what the server did not account for (network, HTTP, queueing, and
    any part the server does not report)."""

    n: int  # requests the means are over
    load_s: float | None  # None: not reported by this server
    prompt_s: float | None
    decode_s: float | None
    unattributed_s: float  # mean latency − the reported parts
    latency_s: float  # mean latency of these requests


class Problem(BaseModel):
    """A measured request that failed, or whose reply was not valid: what came back and why."""

    seq: int
    target: str
    image: str
    round: int
    kind: str  # "failed" or "invalid"
    error_kind: str | None = None  # RequestError.kind for a failed request
    error: str | None = None
    extraction: str | None = None  # how JSON was found in an invalid reply
    field_errors: list[FieldError] = Field(default_factory=list)
    reply: str = ""  # clipped to REPLY_CHARS
    reply_chars: int = 0  # the whole reply's length


class TargetDetail(BaseModel):
    name: str
    images: list[ImageLatencies]
    split: TimeSplit | None  # None: no completed request


class VisionDetail(BaseModel):
    targets: list[TargetDetail]
    problems: list[Problem]  # at most MAX_PROBLEMS, in run order
    problems_total: int


def _images(samples: Sequence[Sample], order: Sequence[str]) -> list[ImageLatencies]:
    by_image: dict[str, list[Sample]] = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    found = []
    for image in sorted(by_image, key=lambda i: order.index(i) if i in order else len(order)):
        latencies = [s.timing.latency_ns / NS_PER_S for s in by_image[image]]
        scores = [s.score["overall"] for s in by_image[image] if s.score and "overall" in s.score]
        found.append(
            ImageLatencies(
                image=image,
                latencies_s=latencies,
                median_s=statistics.median(latencies),
                accuracy=statistics.fmean(scores) if scores else None,
            )
        )
    return found


def _mean_ns(values: Sequence[int | None]) -> float | None:
    """Mean in seconds, None when no request reported the part."""
    known = [v for v in values if v is not None]
    return statistics.fmean(known) / NS_PER_S if known else None


def time_split(samples: Sequence[Sample]) -> TimeSplit | None:
    """Mean load, prompt, decode and unattributed time over completed, plausible requests."""
    trusted = [s.timing for s in samples if not s.timing.suspicious]
    if not trusted:
        return None
    servers = [t.server for t in trusted]
    load = _mean_ns([s.load_duration_ns if s else None for s in servers])
    prompt = _mean_ns([s.prompt_eval_duration_ns if s else None for s in servers])
    decode = _mean_ns([s.eval_duration_ns if s else None for s in servers])
    latency = statistics.fmean(t.latency_ns for t in trusted) / NS_PER_S
    parts = sum(p for p in (load, prompt, decode) if p is not None)
    return TimeSplit(
        n=len(trusted),
        load_s=load,
        prompt_s=prompt,
        decode_s=decode,
        unattributed_s=max(latency - parts, 0.0),
        latency_s=latency,
    )


def _problem(s: Sample) -> Problem | None:
    if not s.ok:
        return Problem(
            seq=s.seq,
            target=s.target,
            image=s.image,
            round=s.repeat,
            kind="failed",
            error_kind=s.error.kind if s.error else None,
            error=s.error.message if s.error else None,
            reply=clip(s.reply, REPLY_CHARS),
            reply_chars=len(s.reply),
        )
    if s.validation is not None and not s.validation.valid:
        return Problem(
            seq=s.seq,
            target=s.target,
            image=s.image,
            round=s.repeat,
            kind="invalid",
            extraction=s.validation.extraction,
            field_errors=s.validation.errors,
            reply=clip(s.reply, REPLY_CHARS),
            reply_chars=len(s.reply),
        )
    return None


def detail(header: RunHeader, samples: Sequence[Sample]) -> VisionDetail:
    measured = [s for s in samples if s.phase == "measured"]
    order = [i.name for i in header.images]
    targets = []
    for info in header.targets:
        done = [s for s in measured if s.target == info.name and s.ok]
        targets.append(
            TargetDetail(name=info.name, images=_images(done, order), split=time_split(done))
        )
    problems = [p for s in measured if (p := _problem(s)) is not None]
    return VisionDetail(
        targets=targets, problems=problems[:MAX_PROBLEMS], problems_total=len(problems)
    )
