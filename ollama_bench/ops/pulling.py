"""`obench pull`: get the model onto every target that lacks it, one server at a time.

One at a time because servers often share a model store (compose.yaml mounts one volume in
both): once the first has pulled, the second already lists the model and is skipped, and two
servers never write the same blob at once. A failure is one line for its target; the rest go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel

from ollama_bench.models import RequestSettings, TargetInfo, TargetSpec
from ollama_bench.ops.doctor import server_key
from ollama_bench.targets.base import TargetFailure
from ollama_bench.targets.ollama import OllamaTarget, PullProgress

UNKNOWN_MODEL = "file does not exist"  # in "pull model manifest: file does not exist"
NO_SPACE = "no space left on device"


RATE_WINDOW_S = 5.0  # the rate shown while pulling is over this much recent time


class PullTally:
    """A pull's progress summed over its layers (Ollama reports each layer's total and completed
    bytes), with a download rate and ETA. Layers already on disk, reported complete at first
    sight, count towards the bytes but not towards the rate."""

    def __init__(self) -> None:
        self.status = "waiting"
        self._layers: dict[str, tuple[int, int]] = {}
        self._present_bytes = 0
        self._history: list[tuple[float, int]] = []  # (time s, downloaded bytes)
        self._first_s: float | None = None
        self._last_growth_s: float | None = None
        self._downloaded = 0

    def add(self, progress: PullProgress, now_s: float) -> None:
        self.status = progress.status
        if progress.digest and progress.total_bytes:
            total, done = progress.total_bytes, progress.completed_bytes or 0
            if progress.digest not in self._layers and done >= total:
                self._present_bytes += total
            self._layers[progress.digest] = (total, done)
        downloaded = self.completed_bytes - self._present_bytes
        if self._first_s is None:
            self._first_s = now_s
        if downloaded > self._downloaded:
            self._downloaded, self._last_growth_s = downloaded, now_s
        self._history.append((now_s, downloaded))
        while len(self._history) > 2 and self._history[1][0] <= now_s - RATE_WINDOW_S:
            self._history.pop(0)

    @property
    def total_bytes(self) -> int:
        return sum(total for total, _ in self._layers.values())

    @property
    def completed_bytes(self) -> int:
        return sum(done for _, done in self._layers.values())

    @property
    def rate_bytes_per_s(self) -> float | None:
        """Download rate over the last RATE_WINDOW_S seconds; None before two readings."""
        if len(self._history) < 2:
            return None
        (t0, b0), (t1, b1) = self._history[0], self._history[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None

    @property
    def mean_rate_bytes_per_s(self) -> float | None:
        """Bytes downloaded / time from the first reading to the last byte (verification, which
        takes seconds on a large model, is left out)."""
        if self._first_s is None or self._last_growth_s is None:
            return None
        elapsed = self._last_growth_s - self._first_s
        return self._downloaded / elapsed if elapsed > 0 else None

    @property
    def eta_s(self) -> float | None:
        rate, left = self.rate_bytes_per_s, self.total_bytes - self.completed_bytes
        return left / rate if rate and left > 0 else (0.0 if left <= 0 else None)


#: Why `pull` leaves an OpenAI-compatible target alone.
NOT_PULLABLE = "an OpenAI-compatible server serves the model it was started with: nothing to pull"


class PullOutcome(BaseModel):
    target: str
    url: str
    state: Literal["present", "pulled", "failed", "skipped"]  # skipped: not an Ollama server
    digest: str | None = None
    size_bytes: int | None = None
    error: str | None = None
    hint: str = ""


class PullObserver(Protocol):
    def started(self, spec: TargetSpec) -> None: ...
    def progressed(self, spec: TargetSpec, tally: PullTally) -> None: ...
    def finished(self, outcome: PullOutcome) -> None: ...


def failure_hint(message: str, model: str) -> str:
    if UNKNOWN_MODEL in message:
        return f"is {model!r} spelled right? Names and tags: https://ollama.com/library"
    if NO_SPACE in message:
        return "free disk space where that server keeps its models (its volume or ~/.ollama)"
    if "lost" in message or "stopped answering" in message:
        return "run obench pull again: layers already downloaded are kept"
    return ""


def _outcome(info: TargetInfo, state: Literal["present", "pulled"]) -> PullOutcome:
    return PullOutcome(
        target=info.name,
        url=info.url,
        state=state,
        digest=info.model_digest,
        size_bytes=info.model_size_bytes,
    )


async def _pull_one(target: OllamaTarget, force: bool, observer: PullObserver) -> PullOutcome:
    spec, model = target.spec, target.settings.model
    info = await target.probe()
    if not info.reachable or (info.error and not info.model_missing):
        error = info.error or f"cannot reach {spec.url}"
        return PullOutcome(target=spec.name, url=spec.url, state="failed", error=error)
    if info.model_present and not force:
        return _outcome(info, "present")
    observer.started(spec)
    tally = PullTally()
    try:
        async for progress in target.pull():
            tally.add(progress, time.monotonic())
            observer.progressed(spec, tally)
    except TargetFailure as exc:
        message = str(exc)
        return PullOutcome(
            target=spec.name,
            url=spec.url,
            state="failed",
            error=message,
            hint=failure_hint(message, model),
        )
    return _outcome(await target.probe(), "pulled")


async def pull_all(
    specs: Sequence[TargetSpec],
    settings: RequestSettings,
    observer: PullObserver,
    *,
    force: bool = False,
) -> list[PullOutcome]:
    """Pull `settings.model` on each target lacking it (all with `force`, once per server)."""
    outcomes: list[PullOutcome] = []
    forced_servers: set[str] = set()
    for spec in specs:
        if spec.api != "ollama":
            skipped = PullOutcome(
                target=spec.name, url=spec.url, state="skipped", error=NOT_PULLABLE
            )
            observer.finished(skipped)
            outcomes.append(skipped)
            continue
        key = server_key(spec.url)
        async with OllamaTarget(spec, settings) as target:
            outcome = await _pull_one(target, force and key not in forced_servers, observer)
        if outcome.state == "pulled":
            forced_servers.add(key)
        observer.finished(outcome)
        outcomes.append(outcome)
    return outcomes
