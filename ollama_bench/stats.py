"""Summaries of measured values and paired comparisons of two arms, with no I/O.

Percentiles use linear interpolation between order statistics (Hyndman & Fan type 7, the default
of numpy and of `statistics.quantiles(method="inclusive")`).

Comparisons are paired: every key (an image, a batch size, an image size) is measured on both
arms, so each key gets its own difference of medians (of logs, for a ratio), and the headline is
their mean over keys: for a ratio, the geometric mean of the per-key ratios of medians. Images
that differ threefold in latency then no longer blur a 1.1× difference. The keys are the fixed
workload, so the interval covers measurement noise only. Each arm's noise is taken to have one
shape and (relative) scale across its keys, so its residuals are pooled: each key's deviations
from its mean, times √(n/(n−1)) so that their variance is unbiased (modified residuals; Davison &
Hinkley 1997, Bootstrap Methods and their Application, §6.2.3). The variance of a median of n
values is that of the median of n draws from the pool (a residual bootstrap; Efron & Tibshirani
1993, An Introduction to the Bootstrap, §9.5), seeded so that a stored run always reports the
same interval. Variances add over keys and arms; the interval is estimate ± t·se with Student's t
at the Welch–Satterthwaite degrees of freedom of the two pools (Welch 1947, Biometrika 34:28–35).

Why this method: in benchmarks/verdict.py's simulations (1–8 images, 2–30% noise, 2–10 runs) a
percentile bootstrap within each image's few runs covered the true ratio in only 66–83% of
trials with 2 runs (it underestimates a variance by (n−1)/n, and a median of 2–3 resampled values
takes few distinct values); normal-theory pooled variances fell to 85% with flat-topped noise at
10 runs (a median's variance depends on the noise's shape). This method covered 96.7% of 64,000
simulated runs with log-normal noise, no fewer than 92.8% in any of 160 settings, and 91.5% at
worst with flat-topped noise.

A change in a score (accuracy, validity) is paired by image and round but the keys are not a
fixed workload there: two models differ image by image, and at temperature 0 with a fixed seed
the rounds of an image mostly repeat one reply, so round-to-round noise says little. The image is
the unit: the CI is Student's t on the per-image mean differences with images − 1 degrees of
freedom, the cluster-level analysis of Donner & Klar, *Design and Analysis of Cluster
Randomization Trials* (2000), ch. 6, with the few-cluster t(G − 1) rule of Cameron & Miller, *A
Practitioner's Guide to Cluster-Robust Inference* (J. Human Resources 50(2), 2015), §VI; Miller,
*Adding Error Bars to Evals* (arXiv:2411.00640, 2024), argues the same clustering and pairing for
model evaluations. benchmarks/quality_ci.py measures why: (image, round) pairs taken as
independent, or round-to-round noise alone, call equal targets different far too often.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, TypeVar

Verdict = Literal["faster", "no clear difference", "slower"]
QualityVerdict = Literal["better", "no clear difference", "worse"]
K = TypeVar("K", bound=Hashable)
Center = Callable[[Sequence[float]], float]

#: Percentiles a Summary reports beside the median.
PERCENTILES = (90, 95, 99)
#: Bootstrap resamples per variance: the Monte Carlo error of a standard error is then about
#: 1/√(2·2000) ≈ 1.6% of it.
RESAMPLES = 2000
#: A key is flagged as far from the rest when its ratio differs from the others' geometric mean
#: by more than this factor and by more than OUTLIER_Z standard errors of measurement noise:
#: the first keeps tiny real differences out, the second keeps noisy keys out.
OUTLIER_FACTOR = 1.25
OUTLIER_Z = 3.0


def percentile(values: Sequence[float], q: float) -> float:
    """Type-7 percentile of `values` for `q` in [0, 100].

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> round(percentile([10, 20, 30, 40, 50], 90), 6)
    46.0
    """
    return percentiles(values, [q])[0]


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """Type-7 percentiles of `values` for each q of `qs`, sorting the values once.

    >>> percentiles([4, 1, 3, 2], [0, 50, 100])
    [1.0, 2.5, 4.0]
    """
    if not values:
        raise ValueError("percentile of no values")
    if outside := [q for q in qs if not 0 <= q <= 100]:
        raise ValueError(f"percentile q={outside[0]} outside [0, 100]")
    ordered = sorted(values)
    found = []
    for q in qs:
        position = (len(ordered) - 1) * q / 100
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        found.append(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    return found


def min_n_for(q: int) -> int:
    """Fewest samples for which one is expected beyond the q-th percentile: 1 / (1 − q/100).

    >>> [min_n_for(q) for q in PERCENTILES]
    [10, 20, 100]
    """
    return math.ceil(100 / (100 - q))


#: Fewest samples for which the p90 is more than a relabelled extreme: with n < 10 the p90
#: interpolates between the two largest values, so it is shown but flagged.
MIN_N_FOR_P90 = min_n_for(90)


@dataclass(frozen=True)
class Summary:
    """Location and spread of one metric; every field but `n` is None when there is no value."""

    n: int
    median: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None
    stdev: float | None = None  # sample standard deviation (n − 1); None below two values
    min: float | None = None
    max: float | None = None
    # percentiles shown from fewer than min_n_for(q) samples: little more than the maximum
    too_few_for: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls(n=0)
        return cls(
            n=len(values),
            median=statistics.median(values),
            p90=percentile(values, 90),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            mean=statistics.fmean(values),
            stdev=statistics.stdev(values) if len(values) > 1 else None,
            min=min(values),
            max=max(values),
            too_few_for=[f"p{q}" for q in PERCENTILES if len(values) < min_n_for(q)],
        )

    def as_dict(self) -> dict[str, float | int | list[str] | None]:
        return asdict(self)


# -- Student's t --------------------------------------------------------------------------------


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Press et al., Numerical Recipes,
    3rd ed., §6.4, evaluated by the modified Lentz method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with `df` degrees of freedom (Abramowitz & Stegun 26.7.1)."""
    tail = _incomplete_beta(df / 2, 0.5, df / (df + t * t)) / 2
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T ≤ t) = p, by bisection of t_cdf; `df` may be fractional (Welch).

    >>> round(t_quantile(0.975, 2), 4)  # closed form for 2 df: 0.95 / √(2 · 0.975 · 0.025)
    4.3027
    """
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"t quantile of p={p} with df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2


def welch_df(variances: Sequence[float], dfs: Sequence[float]) -> float:
    """Welch–Satterthwaite degrees of freedom of a sum of independent variance estimates."""
    total = sum(variances)
    denominator = sum(v * v / df for v, df in zip(variances, dfs, strict=True))
    return total * total / denominator if denominator > 0 else sum(dfs)


# -- resampling ---------------------------------------------------------------------------------


def pooled_residuals(cells: Sequence[Sequence[float]]) -> tuple[list[float], int]:
    """Every cell's deviations from its mean, × √(n/(n−1)), pooled; and their degrees of freedom
    (values − cells). A cell of one value has no residual."""
    pool: list[float] = []
    df = 0
    for values in cells:
        n = len(values)
        if n > 1:
            mean, scale = statistics.fmean(values), math.sqrt(n / (n - 1))
            pool += [(v - mean) * scale for v in values]
            df += n - 1
    return pool, df


def resampled_variance(
    pool: Sequence[float], n: int, center: Center, *, resamples: int = RESAMPLES, seed: int = 0
) -> float:
    """Variance of `center` of `n` values drawn with replacement from `pool` (seeded)."""
    rng = random.Random(f"{seed}:{n}")
    return statistics.pvariance([center(rng.choices(pool, k=n)) for _ in range(resamples)])


# -- paired comparisons -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyDifference:
    key: Hashable
    baseline: float  # center of the baseline's values for this key
    target: float
    n_baseline: int
    n_target: int
    variance: float | None  # of target − baseline, from the pooled residuals

    @property
    def difference(self) -> float:
        return self.target - self.baseline


@dataclass(frozen=True)
class PairedDifference:
    """Mean over keys of center(target) − center(baseline), with a 95% t interval."""

    estimate: float
    ci95: tuple[float, float] | None  # None when an arm has no repeated key to measure noise
    se: float | None
    df: float | None
    keys: tuple[KeyDifference, ...]


def paired_difference(
    baseline: Mapping[K, Sequence[float]],
    target: Mapping[K, Sequence[float]],
    *,
    center: Center = statistics.median,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """Compare two arms key by key; only keys with values on both arms count (see module doc)."""
    keys = [k for k in baseline if baseline[k] and target.get(k)]
    if not keys:
        raise ValueError("no key has values on both arms")
    cells = [(list(baseline[k]), list(target[k])) for k in keys]
    m = len(keys)
    arm_variances: list[dict[int, float]] = []
    arm_dfs: list[int] = []
    for side in (0, 1):
        pool, df = pooled_residuals([cell[side] for cell in cells])
        sizes = {len(cell[side]) for cell in cells}
        arm_variances.append(
            {
                n: resampled_variance(pool, n, center, resamples=resamples, seed=seed + side)
                for n in sizes
            }
            if df
            else {}
        )
        arm_dfs.append(df)
    known = all(arm_dfs)
    per_key = tuple(
        KeyDifference(
            key=k,
            baseline=center(base),
            target=center(other),
            n_baseline=len(base),
            n_target=len(other),
            variance=arm_variances[0][len(base)] + arm_variances[1][len(other)] if known else None,
        )
        for k, (base, other) in zip(keys, cells, strict=True)
    )
    estimate = statistics.fmean(d.difference for d in per_key)
    if not known:
        return PairedDifference(estimate, None, None, None, per_key)
    contributions = [
        sum(arm_variances[side][len(cell[side])] for cell in cells) / m**2 for side in (0, 1)
    ]
    se = math.sqrt(sum(contributions))
    welch = welch_df(contributions, arm_dfs)
    half = t_quantile(0.975, welch) * se
    return PairedDifference(estimate, (estimate - half, estimate + half), se, welch, per_key)


@dataclass(frozen=True)
class KeyRatio:
    """One key's medians on both arms and their ratio, oriented like the headline."""

    key: Hashable
    baseline: float
    target: float
    ratio: float
    n_baseline: int
    n_target: int
    outlier: bool = False
    # this key's own 95% interval: its variance from the pooled residuals, t at the pooled
    # degrees of freedom (the forest plot's whiskers); None when the headline has none
    ci95: tuple[float, float] | None = None


@dataclass(frozen=True)
class PairedRatio:
    """How many times better `target` is than `baseline`: > 1 when the target is faster."""

    ratio: float  # geometric mean over keys of the per-key ratios of medians
    ci95: tuple[float, float] | None
    verdict: Verdict
    keys: tuple[KeyRatio, ...]
    df: float | None = None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width as a fraction of the ratio (0.05: ±5%)."""
        if self.ci95 is None:
            return None
        return (self.ci95[1] - self.ci95[0]) / 2 / self.ratio


def _log_median(logs: Sequence[float]) -> float:
    """log(median(x)) from log(x): for an even count, the log of the middle values' mean, so
    that one key reduces exactly to the ratio of plain medians."""
    ordered = sorted(logs)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    low, high = ordered[middle - 1], ordered[middle]
    return high + math.log((math.exp(low - high) + 1) / 2)


def verdict_of(ci95: tuple[float, float] | None) -> Verdict:
    """Faster or slower only when the interval excludes 1."""
    if ci95 is None:
        return "no clear difference"
    return "faster" if ci95[0] > 1 else "slower" if ci95[1] < 1 else "no clear difference"


def paired_ratio(
    baseline: Mapping[K, Sequence[float]],
    target: Mapping[K, Sequence[float]],
    *,
    higher_is_better: bool = False,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedRatio:
    """Speed-up of `target` over `baseline` from values grouped by key.

    Times (lower is better) give baseline / target; rates (`higher_is_better`) target / baseline.
    Values must be positive.
    """
    logs: list[dict[K, list[float]]] = []
    for groups in (baseline, target):
        if any(v <= 0 for values in groups.values() for v in values):
            raise ValueError("a ratio needs positive values")
        logs.append({k: [math.log(v) for v in values] for k, values in groups.items()})
    d = paired_difference(logs[0], logs[1], center=_log_median, resamples=resamples, seed=seed)
    sign = 1 if higher_is_better else -1
    ci = None
    if d.ci95 is not None:
        low, high = sorted(math.exp(sign * bound) for bound in d.ci95)
        ci = (low, high)
    flagged = _outliers(d)
    medians: dict[Hashable, tuple[float, float]] = {
        k: (statistics.median(baseline[k]), statistics.median(target[k]))
        for k in baseline
        if baseline[k] and target.get(k)
    }
    t = t_quantile(0.975, d.df) if d.df else None
    keys = []
    for k in d.keys:
        base, other = medians[k.key]
        key_ci = None
        if t is not None and k.variance is not None:
            half = t * math.sqrt(k.variance)
            low, high = sorted(math.exp(sign * (k.difference + b)) for b in (-half, half))
            key_ci = (low, high)
        keys.append(
            KeyRatio(
                key=k.key,
                baseline=base,
                target=other,
                ratio=other / base if higher_is_better else base / other,
                n_baseline=k.n_baseline,
                n_target=k.n_target,
                outlier=k.key in flagged,
                ci95=key_ci,
            )
        )
    return PairedRatio(
        ratio=math.exp(sign * d.estimate),
        ci95=ci,
        verdict=verdict_of(ci),
        keys=tuple(keys),
        df=d.df,
    )


def _outliers(d: PairedDifference) -> set[Hashable]:
    """Keys whose log ratio is far from the mean of the others' (see OUTLIER_FACTOR)."""
    if len(d.keys) < 3:
        return set()
    flagged = set()
    total = sum(k.difference for k in d.keys)
    m = len(d.keys)
    for k in d.keys:
        gap = abs(k.difference - (total - k.difference) / (m - 1))
        if gap <= math.log(OUTLIER_FACTOR):
            continue
        if k.variance is not None:
            rest = sum(o.variance or 0.0 for o in d.keys if o is not k) / (m - 1) ** 2
            if gap <= OUTLIER_Z * math.sqrt(k.variance + rest):
                continue
        flagged.add(k.key)
    return flagged


def speedup(baseline: Sequence[float], target: Sequence[float], *, seed: int = 0) -> PairedRatio:
    """Speed-up of one group of times over another: the one-key case of paired_ratio, which is
    the ratio of the two medians."""
    return paired_ratio({"all": baseline}, {"all": target}, seed=seed)


# -- score changes (quality) ---------------------------------------------------------------------


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
    half = t_quantile(0.975, len(means) - 1) * statistics.stdev(means) / math.sqrt(len(means))
    # Scores lie in [0, 1], so no change lies outside ±1: a t interval on few images can reach
    # past that, and is cut there (which moves no verdict: 0 stays inside or outside).
    low, high = max(delta - half, -1.0), min(delta + half, 1.0)
    verdict: QualityVerdict = "no clear difference"
    if low > 0 or high < 0:
        verdict = "better" if low > 0 else "worse"
    return ScoreChange(delta, (low, high), verdict, len(means), count)
