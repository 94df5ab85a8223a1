"""How trustworthy obench's speed-up verdicts are, on simulated runs with a known true ratio.

Each simulated run has M images whose latencies are spread evenly (on a log scale) over a range
of `spread`×, measured R times on a baseline and on a target that is `ratio`× faster, with
multiplicative noise of a given coefficient of variation (log-normal unless stated: latencies are
skewed to the right). The speed-up and its 95% CI come from ollama_bench.stats.paired_ratio, the
code obench runs. For comparison, "unpaired" is the method obench used before: the ratio of the
two pooled medians with a percentile bootstrap over all samples of all images.

Printed: coverage of the true ratio and median CI width over a grid of noise levels, image
spreads, image counts and runs; power (1.1× called faster) and false alarms (equal servers);
requests needed to reach ±5% with --until-ci 5 against a fixed 3-run design; how the method
fares with flat-topped (uniform) noise and with occasional stalls; and the coverage of the two
methods it was chosen over.

Run: python benchmarks/verdict.py [--trials N] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence

from ollama_bench.stats import (
    PairedRatio,
    paired_ratio,
    percentile,
    pooled_residuals,
    t_quantile,
    welch_df,
)

Noise = Callable[[random.Random, float], float]
IMAGES = (1, 2, 4, 6, 8)
RUNS = (2, 3, 5, 10)
NOISES = (0.02, 0.05, 0.10, 0.30)
SPREADS = (1.0, 3.0)
TRUE_RATIO = 1.3


def lognormal(rng: random.Random, cv: float) -> float:
    return math.exp(rng.gauss(0, math.sqrt(math.log1p(cv * cv))))


def uniform(rng: random.Random, cv: float) -> float:
    """The test server's jitter: flat, ±√3·cv."""
    return 1 + rng.uniform(-1, 1) * math.sqrt(3) * cv


def stall(rng: random.Random, cv: float) -> float:
    """Log-normal, and one request in 20 stalls for 2–6× its time (a page fault storm, a
    neighbour's job, a garbage collection)."""
    factor = lognormal(rng, cv)
    return factor * rng.uniform(2, 6) if rng.random() < 0.05 else factor


def simulate(
    rng: random.Random,
    images: int,
    runs: int,
    cv: float,
    *,
    ratio: float = TRUE_RATIO,
    spread: float = 3.0,
    noise: Noise = lognormal,
) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Latencies by image: (baseline, target); the target is `ratio`× faster on every image."""
    scale = [spread ** (i / (images - 1)) if images > 1 else 1.0 for i in range(images)]
    base = {i: [s * noise(rng, cv) for _ in range(runs)] for i, s in enumerate(scale)}
    target = {i: [s / ratio * noise(rng, cv) for _ in range(runs)] for i, s in enumerate(scale)}
    return base, target


def unpaired(
    base: dict[int, list[float]], target: dict[int, list[float]], seed: int = 0
) -> tuple[float, float]:
    """The former method: ratio of pooled medians, percentile bootstrap of both pools."""
    b = [v for values in base.values() for v in values]
    t = [v for values in target.values() for v in values]
    rng = random.Random(seed)
    ratios = [
        statistics.median(rng.choices(b, k=len(b))) / statistics.median(rng.choices(t, k=len(t)))
        for _ in range(2000)
    ]
    return percentile(ratios, 2.5), percentile(ratios, 97.5)


def covers(result: PairedRatio, ratio: float) -> bool:
    return result.ci95 is not None and result.ci95[0] <= ratio <= result.ci95[1]


def grid(trials: int, seed: int) -> None:
    print(f"Coverage of the true {TRUE_RATIO}× by the 95% CI ({trials} trials per cell; the")
    print("lowest over 1, 2, 4, 6 and 8 images), and median CI half-width at 6 images")
    header = "noise spread | " + " ".join(f"{r} runs".rjust(8) for r in RUNS)
    print(header + " | " + " ".join(f"±{r} runs".rjust(9) for r in RUNS))
    lowest, hits_all, counted, below = (1.0, ""), 0, 0, 0
    for cv in NOISES:
        for spread in SPREADS:
            worst, widths = [], []
            for runs in RUNS:
                cover = []
                for images in IMAGES:
                    rng = random.Random(f"{seed}:{cv}:{spread}:{runs}:{images}")
                    hits, halves = 0, []
                    for _ in range(trials):
                        base, target = simulate(rng, images, runs, cv, spread=spread)
                        result = paired_ratio(base, target)
                        hits += covers(result, TRUE_RATIO)
                        halves.append(result.half_width or math.inf)
                    share = hits / trials
                    cover.append(share)
                    hits_all, counted, below = hits_all + hits, counted + 1, below + (share < 0.93)
                    if share < lowest[0]:
                        lowest = (share, f"{cv:.0%} noise, {images} images, {runs} runs")
                    if images == 6:
                        widths.append(statistics.median(halves))
                worst.append(min(cover))
            cells = " ".join(f"{c:8.1%}" for c in worst)
            spans = " ".join(f"{w:9.1%}" for w in widths)
            print(f"{cv:5.0%} {spread:5.0f}× | {cells} | {spans}")
    print(f"lowest coverage anywhere: {lowest[0]:.1%} ({lowest[1]})")
    chance = counted * _binomial_below(trials, 0.95, 0.93)
    print(
        f"all {counted} cells: {hits_all / (counted * trials):.1%} of {counted * trials} trials; "
        f"{below} cells below 93% (exactly 95% coverage would leave {chance:.1f} there by chance)"
    )
    print()


def _binomial_below(trials: int, p: float, share: float) -> float:
    """P(a Binomial(trials, p) share is below `share`)."""
    return sum(
        math.comb(trials, k) * p**k * (1 - p) ** (trials - k)
        for k in range(trials + 1)
        if k < share * trials
    )


def verdicts(trials: int, seed: int) -> None:
    print(f"Verdicts ({trials} trials each; 6 images spread 3×, 3 runs, 5% noise)")
    print("case                      paired              unpaired (former method)")
    for label, ratio, wanted in (
        ("true 1.3× → faster", 1.3, "faster"),
        ("true 1.1× → faster", 1.1, "faster"),
        ("equal → no difference", 1.0, "no clear difference"),
    ):
        rng = random.Random(f"{seed}:verdict:{ratio}")
        paired_hits = unpaired_hits = 0
        paired_width, unpaired_width = [], []
        for trial in range(trials):
            base, target = simulate(rng, 6, 3, 0.05, ratio=ratio)
            result = paired_ratio(base, target)
            paired_hits += result.verdict == wanted
            paired_width.append(result.half_width or math.inf)
            low, high = unpaired(base, target, seed=trial)
            old = "faster" if low > 1 else "slower" if high < 1 else "no clear difference"
            unpaired_hits += old == wanted
            middle = statistics.median(base[i][j] for i in base for j in range(3)) / (
                statistics.median(target[i][j] for i in target for j in range(3))
            )
            unpaired_width.append((high - low) / 2 / middle)
        print(
            f"{label:25} {paired_hits / trials:6.1%} (±{statistics.median(paired_width):.1%})"
            f"      {unpaired_hits / trials:6.1%} (±{statistics.median(unpaired_width):.1%})"
        )
    print()


def until_ci(trials: int, seed: int, pct: float = 5.0, first: int = 3, most: int = 20) -> None:
    print(f"Requests to reach ±{pct:.0f}%: --until-ci {pct:.0f} (from --runs {first} to")
    print(f"--max-runs {most}) against a fixed {first}-run design; 2 targets, {trials} trials")
    print(
        "noise spread images | until-ci: median requests (p90), reached, coverage | "
        f"fixed {first}: requests, within ±{pct:.0f}% | runs by which 95% had it"
    )
    for cv in NOISES:
        for spread in SPREADS:
            for images in (1, 6):
                rng = random.Random(f"{seed}:until:{cv}:{spread}:{images}")
                spent, reached, hits, fixed_ok = [], 0, 0, 0
                precise_at: list[int] = []  # rounds at which each trial first met ±pct
                for _ in range(trials):
                    base, target = simulate(rng, images, most, cv, spread=spread)
                    rounds, result, first_met = first, None, most + 1
                    while True:
                        cut_b = {k: v[:rounds] for k, v in base.items()}
                        cut_t = {k: v[:rounds] for k, v in target.items()}
                        result = paired_ratio(cut_b, cut_t)
                        precise = (result.half_width or math.inf) <= pct / 100
                        if rounds == first and precise:
                            fixed_ok += 1
                        if precise or rounds == most:
                            first_met = rounds if precise else most + 1
                            break
                        rounds += 1
                    spent.append(rounds * images * 2)
                    reached += precise
                    hits += covers(result, TRUE_RATIO)
                    precise_at.append(first_met)
                fixed = math.ceil(percentile(precise_at, 95))
                fixed_text = f"{fixed}" if fixed <= most else f">{most}"
                print(
                    f"{cv:5.0%} {spread:5.0f}× {images:6} | "
                    f"{statistics.median(spent):6.0f} ({percentile(spent, 90):4.0f})"
                    f" {reached / trials:7.0%} {hits / trials:8.1%} | "
                    f"{first * images * 2:8} {fixed_ok / trials:8.0%} | {fixed_text:>5} runs"
                )
    print()


def shapes(trials: int, seed: int) -> None:
    print(f"Other noise shapes ({trials} trials per cell, images 1–8, runs 2–10, 3× spread)")
    print("shape    noise | lowest coverage (where)            | median ± at 6 images, 3 runs")
    for name, noise in (("uniform", uniform), ("stall", stall)):
        for cv in (0.02, 0.05, 0.30):
            lowest, where, halves = 1.0, "", []
            for runs in RUNS:
                for images in IMAGES:
                    rng = random.Random(f"{seed}:{name}:{cv}:{runs}:{images}")
                    hits = 0
                    for _ in range(trials):
                        base, target = simulate(rng, images, runs, cv, noise=noise)
                        result = paired_ratio(base, target)
                        hits += covers(result, TRUE_RATIO)
                        if (images, runs) == (6, 3):
                            halves.append(result.half_width or math.inf)
                    if hits / trials < lowest:
                        lowest, where = hits / trials, f"{images} images, {runs} runs"
            print(
                f"{name:8} {cv:5.0%} | {lowest:6.1%} ({where:20}) | "
                f"±{statistics.median(halves):.1%}"
            )
    print()


Interval = tuple[float, float]
Cells = dict[int, list[float]]


def percentile_within_images(base: Cells, target: Cells, rng: random.Random) -> Interval:
    """Alternative 1: resample each image's runs on each target, recompute the geometric mean of
    the per-image ratios of medians, take the 2.5th and 97.5th percentiles (1,000 resamples)."""
    ratios = []
    for _ in range(1000):
        logs = [
            math.log(statistics.median(rng.choices(base[k], k=len(base[k]))))
            - math.log(statistics.median(rng.choices(target[k], k=len(target[k]))))
            for k in base
        ]
        ratios.append(math.exp(statistics.fmean(logs)))
    return percentile(ratios, 2.5), percentile(ratios, 97.5)


def _median_factor(n: int, rng: random.Random) -> float:
    """Var(median of n standard normals) × n, by simulation: 1 for n ≤ 2, → π/2."""
    medians = [statistics.median(rng.gauss(0, 1) for _ in range(n)) for _ in range(20_000)]
    return statistics.pvariance(medians) * n


def normal_theory(base: Cells, target: Cells, factors: dict[int, float]) -> Interval:
    """Alternative 2: each arm's pooled variance of logs, times the normal median's variance
    factor, Welch t."""
    m = len(base)
    parts, dfs = [], []
    for cells in (base, target):
        logs = [[math.log(v) for v in values] for values in cells.values()]
        pool, df = pooled_residuals(logs)
        variance = statistics.fmean(e * e for e in pool)  # already unbiased (modified)
        parts.append(sum(factors[len(v)] * variance / len(v) for v in logs) / m**2)
        dfs.append(df)
    estimate = statistics.fmean(
        math.log(statistics.median(base[k])) - math.log(statistics.median(target[k])) for k in base
    )
    half = t_quantile(0.975, welch_df(parts, dfs)) * math.sqrt(sum(parts))
    return math.exp(estimate - half), math.exp(estimate + half)


def alternatives(trials: int, seed: int) -> None:
    print(f"The methods considered: coverage of the true {TRUE_RATIO}× ({trials} trials per cell)")
    print("shape     noise images runs | paired (obench)  within-image percentile  normal theory")
    rng_factors = random.Random(seed)
    factors = {n: _median_factor(n, rng_factors) for n in (2, 3, 10)}
    for (name, noise), cv, images, runs in itertools.product(
        (("lognormal", lognormal), ("uniform", uniform)), (0.05, 0.30), (1, 2, 6), (2, 3, 10)
    ):
        rng = random.Random(f"{seed}:alt:{name}:{cv}:{images}:{runs}")
        hits = [0, 0, 0]
        for _ in range(trials):
            base, target = simulate(rng, images, runs, cv, noise=noise)
            result = paired_ratio(base, target)
            for i, (low, high) in enumerate(
                (
                    result.ci95 or (math.inf, math.inf),
                    percentile_within_images(base, target, rng),
                    normal_theory(base, target, factors),
                )
            ):
                hits[i] += low <= TRUE_RATIO <= high
        cells = "  ".join(f"{h / trials:15.1%}" for h in hits)
        print(f"{name:9} {cv:5.0%} {images:6} {runs:4} | {cells}")
    print()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=400, help="simulated runs per grid cell")
    parser.add_argument("--quick", action="store_true", help="a tenth of the trials")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only",
        choices=("verdicts", "grid", "until-ci", "shapes", "alternatives"),
        help="one section",
    )
    args = parser.parse_args(argv)
    trials = max(20, args.trials // 10) if args.quick else args.trials
    started = time.perf_counter()
    sections = {
        "verdicts": lambda: verdicts(trials, args.seed),
        "grid": lambda: grid(trials, args.seed),
        "until-ci": lambda: until_ci(max(20, trials // 2), args.seed),
        "shapes": lambda: shapes(max(20, trials // 2), args.seed),
        "alternatives": lambda: alternatives(max(20, trials // 2), args.seed),
    }
    for name, section in sections.items():
        if args.only in (None, name):
            section()
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
