"""One load step against one target: closed-loop concurrency or an open-loop Poisson schedule.

Times count from the step's start on `perf_counter_ns`. Closed loop: `concurrency` workers, each
sending its next request as soon as its last one ends, until the step's request budget is spent
or its duration has passed. Open loop: each request goes out at its scheduled time whether or
not earlier ones finished; the time it actually went out is recorded too, so a client that falls
behind its own schedule (lag) is reported as the client's fault, not the server's. Every request
is judged like a vision request and handed on as a LoadSample when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ollama_bench.load.records import LoadSample, StepSpec
from ollama_bench.load.schedule import poisson_offsets_s
from ollama_bench.models import Phase
from ollama_bench.targets.base import Target
from ollama_bench.vision.runner import judge
from ollama_bench.vision.scenarios import ImageInput, Scenario

Sink = Callable[[LoadSample], None]


class TargetPool:
    """Clients for one target, one per request in flight, each keeping its own connection.

    One client shared by many concurrent requests spends its time in httpcore's pool
    bookkeeping (each request event scans every connection: at 64 in flight the client managed
    under half the requests/s it manages at 1), so every request in flight takes a client of its
    own, the probed client's `companion()` (which keeps what the probe found), reused by the next
    request. A target whose companion is itself is shared by all.
    """

    def __init__(self, first: Target) -> None:
        self._free = [first]
        self._all = [first]

    @property
    def first(self) -> Target:
        """The caller's client, which probed the target."""
        return self._all[0]

    def take(self) -> Target:
        if self._free:
            return self._free.pop()
        target = self._all[0].companion()
        if target is not self._all[0]:
            self._all.append(target)
        return target

    def reserve(self, count: int) -> None:
        """Have `count` clients ready, so none is opened once a step's clock runs."""
        while len(self._all) < count:
            target = self._all[0].companion()
            if target is self._all[0]:
                return  # shared by all requests: nothing to open
            self._all.append(target)
            self._free.append(target)

    def give(self, target: Target) -> None:
        if target is not self._all[0] or self._all[0] not in self._free:
            self._free.append(target)

    async def close(self) -> None:
        """Close the clients opened here (the first one belongs to the caller)."""
        for target in self._all[1:]:
            await target.__aexit__(None, None, None)
        del self._all[1:]
        self._free = self._all[:1]


@dataclass
class StepResult:
    started_at: datetime
    elapsed_s: float  # step start → last reply
    sent: int
    stopped_by: Literal["requests", "duration"]


class _Step:
    """What a step's requests share: the target, the clock, the in-flight count, the sink."""

    def __init__(
        self,
        name: str,
        targets: TargetPool,
        scenario: Scenario,
        images: Sequence[ImageInput],
        *,
        step: StepSpec | None,
        structured: bool,
        sink: Sink,
        next_seq: Callable[[], int],
    ) -> None:
        self.name, self.targets, self.scenario, self.images = name, targets, scenario, images
        self.step, self.sink, self.next_seq = step, sink, next_seq
        self.schema = scenario.schema if structured else None
        self.phase: Phase = "warmup" if step is None else "measured"
        self.started_at = datetime.now(UTC)
        self.t0_ns = time.perf_counter_ns()
        self.in_flight = 0
        self.sent = 0
        self.last_done_ns = 0

    async def request(self, k: int, scheduled_ns: int | None = None) -> None:
        image = self.images[k % len(self.images)]
        self.sent += 1
        self.in_flight += 1
        in_flight = self.in_flight
        started_at = datetime.now(UTC)
        target = self.targets.take()
        sent_ns = time.perf_counter_ns() - self.t0_ns
        try:
            data = image.data if target.spec.images else None  # images=false: the prompt alone
            exchange = await target.chat(self.scenario.prompt, data, self.schema)
        finally:
            self.in_flight -= 1
            self.targets.give(target)
        validation, score = judge(self.scenario, exchange, self.scenario.labels.get(image.name))
        sample = LoadSample(
            seq=self.next_seq(),
            target=self.name,
            step=None if self.step is None else self.step.index,
            phase=self.phase,
            image=image.name,
            image_sha256=image.sha256,
            started_at=started_at,
            scheduled_ns=scheduled_ns,
            sent_ns=sent_ns,
            lag_ns=None if scheduled_ns is None else sent_ns - scheduled_ns,
            in_flight=in_flight,
            ok=exchange.error is None,
            error=exchange.error,
            timing=exchange.timing,
            reply=exchange.reply,
            validation=validation,
            score=score,
        )
        self.last_done_ns = max(self.last_done_ns, sample.done_ns)
        self.sink(sample)

    def result(self, stopped_by: Literal["requests", "duration"]) -> StepResult:
        return StepResult(self.started_at, self.last_done_ns / 1e9, self.sent, stopped_by)


@contextlib.asynccontextmanager
async def _all_or_none() -> AsyncIterator[asyncio.TaskGroup]:
    """A task group whose first failure (a full disk in the sink) cancels the step's other
    requests at once, raised as itself, not in an ExceptionGroup, so callers' `except
    RunFileError` still matches; no request of the step runs on after it."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def closed_loop(
    state: _Step, concurrency: int, max_requests: int, max_s: float | None
) -> StepResult:
    deadline_ns = None if max_s is None else state.t0_ns + int(max_s * 1e9)
    next_k = 0

    async def worker() -> None:
        nonlocal next_k
        while next_k < max_requests and (
            deadline_ns is None or time.perf_counter_ns() < deadline_ns
        ):
            k, next_k = next_k, next_k + 1  # no await in between: workers never share a k
            await state.request(k)

    async with _all_or_none() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return state.result("requests" if next_k >= max_requests else "duration")


async def open_loop(state: _Step, offsets_s: Sequence[float], max_requests: int) -> StepResult:
    async with _all_or_none() as group:  # interrupted: in-flight requests end with the step
        for k, offset_s in enumerate(offsets_s):
            due_ns = int(offset_s * 1e9)
            wait_s = (state.t0_ns + due_ns - time.perf_counter_ns()) / 1e9
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            group.create_task(state.request(k, scheduled_ns=due_ns))
    return state.result("requests" if len(offsets_s) >= max_requests else "duration")


async def run_step(
    name: str,
    targets: TargetPool,
    scenario: Scenario,
    images: Sequence[ImageInput],
    step: StepSpec,
    *,
    structured: bool,
    sink: Sink,
    next_seq: Callable[[], int],
) -> StepResult:
    """One measured step; returns when its last request has ended."""
    if step.concurrency is not None:
        targets.reserve(step.concurrency)
    state = _Step(
        name,
        targets,
        scenario,
        images,
        step=step,
        structured=structured,
        sink=sink,
        next_seq=next_seq,
    )
    if step.mode == "concurrency":
        assert step.concurrency is not None
        return await closed_loop(state, step.concurrency, step.max_requests, step.max_duration_s)
    assert step.rate_per_s is not None and step.seed is not None
    offsets = poisson_offsets_s(step.rate_per_s, step.max_requests, step.max_duration_s, step.seed)
    return await open_loop(state, offsets, step.max_requests)


async def warm_up(
    name: str,
    targets: TargetPool,
    scenario: Scenario,
    images: Sequence[ImageInput],
    requests: int,
    *,
    structured: bool,
    sink: Sink,
    next_seq: Callable[[], int],
) -> None:
    """`requests` sequential requests (the first pays any model load), left out of statistics."""
    state = _Step(
        name,
        targets,
        scenario,
        images,
        step=None,
        structured=structured,
        sink=sink,
        next_seq=next_seq,
    )
    await closed_loop(state, 1, requests, None)
