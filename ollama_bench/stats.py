"""Summaries of measured values and the uncertainty of a speed-up or a score change, with no I/O.

Percentiles use linear interpolation between order statistics (Hyndman & Fan type 7, the default
of numpy and of `statistics.quantiles(method="inclusive")`). The speed-up CI is a percentile
bootstrap (Efron & Tibshirani 1993, ch. 13) of the ratio of medians, resampling both groups
independently with a fixed seed so that a stored run always reports the same interval.

A change in a score (accuracy, validity) is paired by image and round and clustered by image:
the rounds of one image are not independent (at temperature 0 with a fixed seed they often
repeat the same reply), so the image is the unit. Its CI is Student's t on the per-image mean
differences with (images − 1) degrees of freedom: the cluster-level analysis of Donner & Klar,
*Design and Analysis of Cluster Randomization Trials* (2000), ch. 6, and the few-cluster
t(G − 1) rule of Cameron & Miller, *A Practitioner's Guide to Cluster-Robust Inference* (J. Human
Resources 50(2), 2015), §VI; Miller, *Adding Error Bars to Evals* (arXiv:2411.00640, 2024),
argues the same clustering and pairing for model evaluations. benchmarks/quality_ci.py measures
why: resampling (image, round) pairs as independent calls equal targets different far too often.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Verdict = Literal["faster", "no clear difference", "slower"]
QualityVerdict = Literal["better", "no clear difference", "worse"]

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


#: Student's t 0.975 quantiles for 1…30 degrees of freedom (two-sided 95%), as printed in every
#: table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2); tests check them against scipy.
_T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)
_Z975 = 1.959964


def t975(df: int) -> float:
    """Two-sided 95% critical value of Student's t with `df` degrees of freedom.

    Beyond the table, the Cornish-Fisher expansion of Abramowitz & Stegun 26.7.5 (error < 1e-5).

    >>> t975(5), round(t975(100), 4)
    (2.570582, 1.984)
    """
    if df < 1:
        raise ValueError(f"t quantile for {df} degrees of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = _Z975, float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


@dataclass(frozen=True)
class ScoreChange:
    """Change of a [0, 1] score, target − baseline, paired by image and round, CI over images."""

    delta: float  # mean over images of each image's mean paired difference
    ci95: tuple[float, float] | None  # None below two images: nothing to spread over
    verdict: QualityVerdict
    images: int  # images with at least one pair
    pairs: int  # (image, round) pairs where both targets have a score


def paired_score_change(pairs: Mapping[str, Sequence[tuple[float, float]]]) -> ScoreChange:
    """`pairs`: image → (target score, baseline score) for each round both answered.

    Each image counts once, whatever its number of rounds, so an image that happens to have
    more completed rounds does not weigh more. The verdict names a change only when the
    interval excludes 0.

    >>> d = paired_score_change({"a": [(1.0, 1.0)], "b": [(0.5, 1.0), (0.7, 1.0)]})
    >>> round(d.delta, 3), d.images, d.pairs
    (-0.2, 2, 3)
    """
    means = [statistics.fmean(t - b for t, b in rounds) for rounds in pairs.values() if rounds]
    count = sum(len(rounds) for rounds in pairs.values())
    if not means:
        raise ValueError("paired difference of no pairs")
    delta = statistics.fmean(means)
    if len(means) < 2:
        return ScoreChange(delta, None, "no clear difference", len(means), count)
    half = t975(len(means) - 1) * statistics.stdev(means) / math.sqrt(len(means))
    low, high = delta - half, delta + half
    verdict: QualityVerdict = "no clear difference"
    if low > 0 or high < 0:
        verdict = "better" if low > 0 else "worse"
    return ScoreChange(delta, (low, high), verdict, len(means), count)
