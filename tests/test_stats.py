"""Statistics against numbers computed by hand."""

from __future__ import annotations

import math

import pytest

from ollama_bench.stats import Summary, bootstrap_ratio_ci, percentile, speedup


def test_percentile_type7_by_hand() -> None:
    # position = (n - 1) * q = 4 * 0.9 = 3.6 → 40 + 0.6 * (50 - 40) = 46
    assert percentile([50, 10, 40, 20, 30], 90) == pytest.approx(46.0)
    # position = 3 * 0.5 = 1.5 → 2 + 0.5 * (3 - 2)
    assert percentile([4, 3, 2, 1], 50) == pytest.approx(2.5)
    assert percentile([7.0], 90) == 7.0
    assert percentile([1, 2], 0) == 1 and percentile([1, 2], 100) == 2


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_by_hand() -> None:
    s = Summary.of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert s.n == 8
    assert s.median == 4.5
    assert s.mean == 5.0
    # squared deviations sum to 32; sample variance 32 / 7
    assert s.stdev == pytest.approx(math.sqrt(32 / 7))
    # position 7 * 0.9 = 6.3 → 7 + 0.3 * (9 - 7) = 7.6
    assert s.p90 == pytest.approx(7.6)
    assert (s.min, s.max) == (2.0, 9.0)


def test_summary_of_one_and_none() -> None:
    one = Summary.of([3.0])
    assert one.median == 3.0 and one.stdev is None
    empty = Summary.of([])
    assert empty.n == 0 and empty.median is None and empty.as_dict()["p90"] is None


def test_speedup_of_separated_samples_is_faster_and_contains_ratio() -> None:
    baseline = [8.0, 8.1, 7.9, 8.2, 7.8, 8.05]
    target = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
    result = speedup(baseline, target)
    # medians: (8.0 + 8.05) / 2 = 8.025 and 1.0 → ratio 8.025
    assert result.ratio == pytest.approx(8.025)
    low, high = result.ci95
    assert low <= 8.025 <= high
    assert low > 7.5 and high < 8.6
    assert result.verdict == "faster"


def test_speedup_verdicts() -> None:
    same = speedup([1.0, 1.2, 0.9, 1.1, 1.0], [1.05, 0.95, 1.15, 1.0, 0.9])
    assert same.verdict == "no clear difference"
    assert same.ci95[0] < 1 < same.ci95[1]
    slower = speedup([1.0, 1.01, 0.99, 1.0], [2.0, 2.02, 1.98, 2.0])
    assert slower.verdict == "slower" and slower.ratio == pytest.approx(0.5)


def test_bootstrap_is_reproducible_and_bounded_by_extremes() -> None:
    a, b = [3.0, 4.0, 5.0, 6.0], [1.0, 2.0, 2.5]
    first = bootstrap_ratio_ci(a, b, resamples=500)
    assert first == bootstrap_ratio_ci(a, b, resamples=500)
    # any resampled median lies within the sample's range
    assert 3.0 / 2.5 <= first[0] <= first[1] <= 6.0 / 1.0
