"""The steps of a load sweep and the arrival times of an open-loop step (pure, seeded).

Closed loop (MLPerf's MultiStream shape): N requests in flight, each sent when one finishes.
Open loop (MLPerf's Server scenario): requests sent at Poisson arrival times of a given rate
whether or not earlier ones finished, so a server slower than the rate builds a queue. Both are
bounded: a step sends at most `max_requests` requests and none after `max_duration_s`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ollama_bench.load.records import StepSpec


def plan_steps(
    concurrency: Sequence[int],
    rates_per_s: Sequence[float],
    *,
    max_requests: int,
    max_duration_s: float,
    seed: int,
) -> list[StepSpec]:
    """Closed-loop steps in the order given, then open-loop ones; each open-loop step its own
    seed (derived from `seed` and the step), the same for every target."""
    steps = [
        StepSpec(
            index=i,
            mode="concurrency",
            concurrency=level,
            max_requests=max_requests,
            max_duration_s=max_duration_s,
        )
        for i, level in enumerate(concurrency)
    ]
    steps += [
        StepSpec(
            index=len(steps) + i,
            mode="rate",
            rate_per_s=rate,
            max_requests=max_requests,
            max_duration_s=max_duration_s,
            seed=seed * 1000 + len(steps) + i,
        )
        for i, rate in enumerate(rates_per_s)
    ]
    return steps


def poisson_offsets_s(
    rate_per_s: float, max_requests: int, max_duration_s: float, seed: int
) -> list[float]:
    """Send times (seconds after the step starts) of a Poisson process of `rate_per_s`: the first
    request at 0, then exponential gaps of mean 1/rate, up to `max_requests` within the duration.

    >>> offsets = poisson_offsets_s(2.0, 1000, 10_000.0, seed=1)
    >>> len(offsets), offsets[0], round(offsets[-1] / (len(offsets) - 1), 1)
    (1000, 0.0, 0.5)
    >>> poisson_offsets_s(2.0, 5, 60.0, seed=1) == poisson_offsets_s(2.0, 5, 60.0, seed=1)
    True
    """
    rng = random.Random(seed)
    offsets: list[float] = []
    at = 0.0
    while len(offsets) < max_requests and at <= max_duration_s:
        offsets.append(at)
        at += rng.expovariate(rate_per_s)
    return offsets
