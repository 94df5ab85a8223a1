"""Paired score differences: hand-computed cases and a seeded simulation of realistic runs."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from ollama_bench.stats import ScoreChange, paired_score_change


def test_paired_score_change_by_hand() -> None:
    # per-image mean differences: a −0.1, b (−0.2 − 0.4) / 2 = −0.3, c 0.1
    pairs = {
        "a": [(0.8, 0.9)],
        "b": [(0.6, 0.8), (0.5, 0.9)],
        "c": [(1.0, 0.9), (1.0, 0.9)],
    }
    d = paired_score_change(pairs)
    assert d.delta == pytest.approx(-0.1)  # (−0.1 − 0.3 + 0.1) / 3
    sd = math.sqrt((0.0**2 + 0.2**2 + 0.2**2) / 2)  # deviations 0, −0.2, +0.2; n − 1 = 2
    half = 4.302653 * sd / math.sqrt(3)  # Student's t 0.975 quantile, 2 degrees of freedom
    assert d.ci95 == pytest.approx((-0.1 - half, -0.1 + half), rel=1e-6)
    assert d.verdict == "no clear difference"
    assert (d.images, d.pairs) == (3, 5)


def test_paired_score_change_verdicts() -> None:
    worse = paired_score_change({str(i): [(0.7 + i / 100, 0.9 + i / 100)] * 3 for i in range(6)})
    assert worse.verdict == "worse" and worse.delta == pytest.approx(-0.2)
    # every image exactly 0.2 lower: no spread, so the interval is the point itself
    assert worse.ci95 == pytest.approx((-0.2, -0.2))
    better = paired_score_change({"a": [(1.0, 0.0)], "b": [(0.9, 0.1)], "c": [(1.0, 0.2)]})
    assert better.verdict == "better" and better.ci95 is not None and better.ci95[0] > 0
    same = paired_score_change({str(i): [(1.0, 1.0), (0.5, 0.5)] for i in range(4)})
    assert same == ScoreChange(0.0, (0.0, 0.0), "no clear difference", 4, 8)


def test_paired_score_change_on_binary_scores_needs_most_images() -> None:
    # 4 of 6 titles lost: mean −2/3, sd 0.516, half-width 2.571 · 0.516 / √6 = 0.542 → < 0
    four = {str(i): [(0.0 if i < 4 else 1.0, 1.0)] for i in range(6)}
    assert paired_score_change(four).verdict == "worse"
    three = {str(i): [(0.0 if i < 3 else 1.0, 1.0)] for i in range(6)}
    assert paired_score_change(three).verdict == "no clear difference"


def test_interval_stays_within_the_possible_changes() -> None:
    # 4 images, 3 lost a title and 1 gained one: mean −0.5, sd 1.0, half-width 3.182 · 1.0 / 2
    # = 1.59, so the raw t interval (−2.09, 1.09) reaches past ±1 point of a [0, 1] score
    d = paired_score_change(
        {"a": [(0.0, 1.0)], "b": [(0.0, 1.0)], "c": [(0.0, 1.0)]} | {"d": [(1.0, 0.0)]}
    )
    assert d.delta == pytest.approx(-0.5)
    assert d.ci95 == (-1.0, 1.0) and d.verdict == "no clear difference"


def test_one_image_has_no_interval() -> None:
    d = paired_score_change({"only": [(0.0, 1.0)] * 5})
    assert d.ci95 is None and d.verdict == "no clear difference" and d.delta == -1.0
    with pytest.raises(ValueError):
        paired_score_change({"a": []})


def _scores(
    rng: random.Random, quality: list[float], runs: int, p_repeat: float
) -> list[list[float]]:
    """One target's scores per image and round: the first round's again with p_repeat."""
    rows = []
    for q in quality:
        first = q + rng.gauss(0, 0.03)
        later = [
            first if rng.random() < p_repeat else q + rng.gauss(0, 0.03) for _ in range(1, runs)
        ]
        row = [first, *later]
        rows.append([min(1.0, max(0.0, s)) for s in row])
    return rows


def _verdict(rng: random.Random, shift: float, p_repeat: float) -> str:
    """A simulated run of 6 images × 3 rounds on one graded field (see benchmarks/quality_ci.py)."""
    base_quality = [rng.uniform(0.6, 1.0) for _ in range(6)]  # images differ a lot
    target_quality = [min(1.0, max(0.0, q + shift + rng.gauss(0, 0.03))) for q in base_quality]
    base = _scores(rng, base_quality, 3, p_repeat)
    target = _scores(rng, target_quality, 3, p_repeat)
    pairs = {str(i): list(zip(target[i], base[i], strict=True)) for i in range(len(base_quality))}
    return paired_score_change(pairs).verdict


@pytest.mark.parametrize("p_repeat", [0.7, 1.0])
def test_simulated_runs_call_ten_points_worse_and_equal_correctly(p_repeat: float) -> None:
    rng = random.Random(20241120)
    trials = 1000
    worse = statistics.fmean(_verdict(rng, -0.10, p_repeat) == "worse" for _ in range(trials))
    equal = statistics.fmean(
        _verdict(rng, 0.0, p_repeat) == "no clear difference" for _ in range(trials)
    )
    assert worse >= 0.95, worse
    assert equal >= 0.93, equal
