"""Summaries of measured values and the uncertainty of a speed-up, with no I/O.

Percentiles use linear interpolation between order statistics (Hyndman & Fan type 7, the default
of numpy and of `statistics.quantiles(method="inclusive")`). The speed-up CI is a percentile
bootstrap (Efron & Tibshirani 1993, ch. 13) of the ratio of medians, resampling both groups
independently with a fixed seed so that a stored run always reports the same interval.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Verdict = Literal["faster", "no clear difference", "slower"]

#: Fewest samples for which a percentile is more than a relabelled extreme: with n < 10 the p90
#: interpolates between the two largest values, so it is shown but flagged.
MIN_N_FOR_P90 = 10


def percentile(values: Sequence[float], q: float) -> float:
    """Type-7 percentile of `values` for `q` in [0, 100].

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> round(percentile([10, 20, 30, 40, 50], 90), 6)
    46.0
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q} outside [0, 100]")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True)
class Summary:
    """Location and spread of one metric; every field but `n` is None when there is no value."""

    n: int
    median: float | None = None
    p90: float | None = None
    mean: float | None = None
    stdev: float | None = None  # sample standard deviation (n − 1); None below two values
    min: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls(n=0)
        return cls(
            n=len(values),
            median=statistics.median(values),
            p90=percentile(values, 90),
            mean=statistics.fmean(values),
            stdev=statistics.stdev(values) if len(values) > 1 else None,
            min=min(values),
            max=max(values),
        )

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Speedup:
    """How many times faster `target` is than `baseline`: baseline median / target median."""

    ratio: float
    ci95: tuple[float, float]
    verdict: Verdict


def bootstrap_ratio_ci(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(numerator) / median(denominator)."""
    if not numerator or not denominator:
        raise ValueError("bootstrap of an empty sample")
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        num = statistics.median(rng.choices(numerator, k=len(numerator)))
        den = statistics.median(rng.choices(denominator, k=len(denominator)))
        ratios.append(num / den if den > 0 else math.inf)
    tail = (1 - confidence) / 2 * 100
    return percentile(ratios, tail), percentile(ratios, 100 - tail)


def speedup(baseline: Sequence[float], target: Sequence[float], *, seed: int = 0) -> Speedup:
    """Speed-up of `target` over `baseline` from their latencies, with a bootstrap 95% CI.

    The verdict names a difference only when the interval excludes 1.
    """
    ratio = statistics.median(baseline) / statistics.median(target)
    low, high = bootstrap_ratio_ci(baseline, target, seed=seed)
    verdict: Verdict = "faster" if low > 1 else "slower" if high < 1 else "no clear difference"
    return Speedup(ratio=ratio, ci95=(low, high), verdict=verdict)
