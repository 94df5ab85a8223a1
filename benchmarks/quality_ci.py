"""Which unit to resample for a change in accuracy: a seeded simulation of runs like obench's.

A run sends each image to each target for a few rounds. At temperature 0 with a fixed seed a
model mostly gives the same reply every round, so the rounds of one image are not independent:
18 (image, round) pairs of 6 images × 3 rounds hold little more than 6 observations. Three ways
to put a 95% interval on target − baseline are compared:

  pairs      percentile bootstrap of the (image, round) pair differences as if independent
  fixed      the images as a fixed workload: only round-to-round noise within each image,
             pooled, with t at its degrees of freedom (right for a speed-up on these images;
             for quality it ignores that two models differ image by image)
  images     percentile bootstrap of the images (cluster bootstrap), rounds kept together
  t(images)  Student's t on the per-image mean differences, images − 1 degrees of freedom
             (what obench uses: ollama_bench.stats.paired_score_change)

Model of one field (a graded score such as traffic_level's closeness): image i has a baseline
quality mu_i ~ U(0.6, 1.0); the target's is mu_i + shift + d_i with d_i ~ N(0, sd_image) (two
models differ image by image even when neither is better on average). Each round scores
quality + N(0, sd_round), except that a round repeats the first round's reply (and score) with
probability p_repeat. Scores are clipped to [0, 1]. A binary field (title right or wrong) is
simulated too: image i is right with probability mu_i, the same way every repeated round.

Printed: for shift 0 (equal targets) the share of trials called "no clear difference", and for
shift −0.10 (10 points worse) the share called "worse", per method.
Run: python benchmarks/quality_ci.py [--trials N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ollama_bench.stats import paired_score_change, t_quantile

Rounds = np.ndarray  # shape (images, rounds): target − baseline per (image, round)
RESAMPLES = 2000


def field_scores(
    rng: np.random.Generator,
    quality: np.ndarray,
    runs: int,
    sd_round: float,
    p_repeat: float,
    binary: bool,
) -> np.ndarray:
    """One target's scores, shape (images, runs), given each image's expected quality."""
    images = len(quality)
    if binary:
        first = (rng.random(images) < quality).astype(float)
        fresh = (rng.random((images, runs)) < quality[:, None]).astype(float)
    else:
        first = quality + rng.normal(0, sd_round, images)
        fresh = quality[:, None] + rng.normal(0, sd_round, (images, runs))
    repeat = rng.random((images, runs)) < p_repeat
    repeat[:, 0] = True
    return np.clip(np.where(repeat, first[:, None], fresh), 0.0, 1.0)


def simulate_run(
    rng: np.random.Generator,
    shift: float,
    *,
    images: int = 6,
    runs: int = 3,
    sd_image: float = 0.03,
    sd_round: float = 0.03,
    p_repeat: float = 0.7,
    binary: bool = False,
) -> Rounds:
    base_quality = rng.uniform(0.6, 1.0, images)  # pairing takes this spread out
    target_quality = np.clip(base_quality + shift + rng.normal(0, sd_image, images), 0, 1)
    base = field_scores(rng, base_quality, runs, sd_round, p_repeat, binary)
    target = field_scores(rng, target_quality, runs, sd_round, p_repeat, binary)
    return np.asarray(target - base)


def verdict(low: float, high: float) -> str:
    return "better" if low > 0 else "worse" if high < 0 else "no clear difference"


def by_pairs(diffs: Rounds, rng: np.random.Generator) -> str:
    flat = diffs.ravel()
    means = rng.choice(flat, (RESAMPLES, flat.size)).mean(axis=1)
    return verdict(*np.percentile(means, [2.5, 97.5]))


def by_fixed_images(diffs: Rounds, rng: np.random.Generator) -> str:
    images, runs = diffs.shape
    df = images * (runs - 1)
    within = float(((diffs - diffs.mean(axis=1, keepdims=True)) ** 2).sum()) / df
    half = t_quantile(0.975, df) * np.sqrt(within / runs / images)
    mean = float(diffs.mean())
    return verdict(mean - half, mean + half)


def by_image_bootstrap(diffs: Rounds, rng: np.random.Generator) -> str:
    per_image = diffs.mean(axis=1)
    means = rng.choice(per_image, (RESAMPLES, per_image.size)).mean(axis=1)
    return verdict(*np.percentile(means, [2.5, 97.5]))


def by_image_t(diffs: Rounds, rng: np.random.Generator) -> str:
    pairs = {
        str(i): [(float(d), 0.0) for d in row] for i, row in enumerate(diffs)
    }  # target − baseline as (difference, 0): the same differences
    return paired_score_change(pairs).verdict


METHODS: dict[str, Callable[[Rounds, np.random.Generator], str]] = {
    "pairs": by_pairs,
    "fixed": by_fixed_images,
    "images": by_image_bootstrap,
    "t(images)": by_image_t,
}


def rates(trials: int, seed: int, **model: float | bool) -> dict[str, tuple[float, float]]:
    """Per method: share 'no clear difference' when equal, share 'worse' when 10 points worse."""
    found: dict[str, tuple[float, float]] = {}
    for name, method in METHODS.items():
        rng = np.random.default_rng(seed)
        equal = sum(
            method(simulate_run(rng, 0.0, **model), rng) == "no clear difference"  # type: ignore[arg-type]
            for _ in range(trials)
        )
        worse = sum(
            method(simulate_run(rng, -0.10, **model), rng) == "worse"  # type: ignore[arg-type]
            for _ in range(trials)
        )
        found[name] = (equal / trials, worse / trials)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cases: list[tuple[str, dict[str, float | bool]]] = [
        ("graded, rounds repeat 70%, sd_image .03, sd_round .03", {}),
        ("graded, rounds always repeat (deterministic)", {"p_repeat": 1.0}),
        ("graded, rounds never repeat", {"p_repeat": 0.0}),
        ("graded, images differ more (sd_image .05)", {"sd_image": 0.05}),
        ("graded, images differ more (sd_image .05), 12 images", {"sd_image": 0.05, "images": 12}),
        ("binary (right/wrong), rounds repeat 70%", {"binary": True}),
    ]
    print(f"{args.trials} trials per cell, 6 images × 3 rounds unless said, seed {args.seed}")
    print(f"{'case':<55} {'method':<10} {'equal: no clear':>16} {'−10 pt: worse':>14}")
    for label, model in cases:
        for name, (equal, worse) in rates(args.trials, args.seed, **model).items():
            print(f"{label:<55} {name:<10} {equal:>16.1%} {worse:>14.1%}")
            label = ""


if __name__ == "__main__":
    main()
