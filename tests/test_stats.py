"""Statistics against numbers computed by hand."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from ollama_bench.stats import (
    Summary,
    paired_difference,
    paired_ratio,
    percentile,
    pooled_residuals,
    speedup,
    t_quantile,
    welch_df,
)


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
    # 7 * 0.95 = 6.65 → 7 + 0.65 * 2 = 8.3; 7 * 0.99 = 6.93 → 7 + 0.93 * 2 = 8.86
    assert s.p95 == pytest.approx(8.3) and s.p99 == pytest.approx(8.86)
    assert (s.min, s.max) == (2.0, 9.0)
    assert s.too_few_for == ["p90", "p95", "p99"]  # 8 < 10, 20, 100


def test_percentiles_are_flagged_until_one_sample_lies_beyond_them() -> None:
    assert Summary.of([1.0] * 10).too_few_for == ["p95", "p99"]
    assert Summary.of([1.0] * 20).too_few_for == ["p99"]
    assert Summary.of([1.0] * 100).too_few_for == []


def test_summary_of_one_and_none() -> None:
    one = Summary.of([3.0])
    assert one.median == 3.0 and one.stdev is None
    empty = Summary.of([])
    assert empty.n == 0 and empty.median is None and empty.as_dict()["p90"] is None


def test_t_quantiles_against_tables() -> None:
    # Student's t, two-sided 95%: 12.706 (1 df), 4.303 (2), 2.571 (5), 2.228 (10), 1.960 (∞)
    for df, expected in ((1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (1e6, 1.9600)):
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)
    assert t_quantile(0.025, 5) == pytest.approx(-2.5706, abs=1e-4)
    assert t_quantile(0.5, 3) == pytest.approx(0.0, abs=1e-9)


def test_t_quantiles_against_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for df, p in itertools.product((0.7, 1, 1.5, 2, 3.3, 7, 24.6, 300), (0.6, 0.9, 0.975, 0.999)):
        assert t_quantile(p, df) == pytest.approx(float(scipy_stats.t.ppf(p, df)), rel=1e-9)


def test_welch_df_by_hand() -> None:
    # (1 + 1)² / (1/2 + 1/2) = 4; one variance alone keeps its own df
    assert welch_df([1.0, 1.0], [2, 2]) == pytest.approx(4.0)
    assert welch_df([1.0, 0.0], [3, 9]) == pytest.approx(3.0)


def test_pooled_residuals_by_hand() -> None:
    # cell [1, 3]: mean 2, residuals ∓1 × √(2/1); cell [5]: none; cell [2, 2, 8]: mean 4,
    # residuals (−2, −2, 4) × √(3/2)
    pool, df = pooled_residuals([[1.0, 3.0], [5.0], [2.0, 2.0, 8.0]])
    r2, r3 = math.sqrt(2), math.sqrt(1.5)
    assert pool == pytest.approx([-r2, r2, -2 * r3, -2 * r3, 4 * r3])
    assert df == 1 + 2


def _exact_variance_of_log_median_of_two(pool: list[float]) -> float:
    """Every ordered pair of draws from the pool, equally likely: the bootstrap distribution of
    log(median of two) = log((e^a + e^b) / 2), enumerated instead of sampled."""
    values = [math.log((math.exp(a) + math.exp(b)) / 2) for a in pool for b in pool]
    return statistics.pvariance(values)


def test_paired_ratio_two_images_two_runs_by_hand() -> None:
    baseline = {"a": [4.0, 6.0], "b": [9.0, 11.0]}  # medians 5 and 10
    target = {"a": [1.8, 2.2], "b": [4.5, 5.5]}  # medians 2 and 5
    result = paired_ratio(baseline, target, resamples=20_000)
    # per image 5/2 = 2.5 and 10/5 = 2; headline √(2.5 · 2) = √5
    assert result.ratio == pytest.approx(math.sqrt(5))
    assert [(k.key, k.baseline, k.target, k.ratio) for k in result.keys] == [
        ("a", 5.0, 2.0, pytest.approx(2.5)),
        ("b", 10.0, 5.0, pytest.approx(2.0)),
    ]
    # Residuals of logs, ± half the spread × √2, pooled per arm over both images (2 df each):
    base_pool = [s * math.log(r) / math.sqrt(2) for r in (6 / 4, 11 / 9) for s in (-1, 1)]
    target_pool = [s * math.log(r) / math.sqrt(2) for r in (2.2 / 1.8, 5.5 / 4.5) for s in (-1, 1)]
    v_base = _exact_variance_of_log_median_of_two(base_pool)
    v_target = _exact_variance_of_log_median_of_two(target_pool)
    # each arm contributes (v + v) / 2² over the two images
    contributions = [2 * v_base / 4, 2 * v_target / 4]
    se = math.sqrt(sum(contributions))
    df = sum(contributions) ** 2 / sum(c * c / 2 for c in contributions)
    half = t_quantile(0.975, df) * se
    low, high = result.ci95 or (0.0, 0.0)
    assert result.df == pytest.approx(df, rel=0.03)
    # 20,000 resamples estimate each variance within about 1%: the bounds land within 1%
    assert low == pytest.approx(math.sqrt(5) * math.exp(-half), rel=0.01)
    assert high == pytest.approx(math.sqrt(5) * math.exp(half), rel=0.01)
    assert 1 < low < 1.6 and 3.2 < high < 3.5  # about 1.50× – 3.34×
    assert result.verdict == "faster"
    assert result.half_width == pytest.approx((high - low) / 2 / math.sqrt(5))
    # each image's own interval: its ratio × exp(± t · √(v_base + v_target)), the same t
    key_half = t_quantile(0.975, result.df or df) * math.sqrt(v_base + v_target)
    for key in result.keys:
        key_low, key_high = key.ci95 or (0.0, 0.0)
        assert key_low == pytest.approx(key.ratio * math.exp(-key_half), rel=0.01)
        assert key_high == pytest.approx(key.ratio * math.exp(key_half), rel=0.01)


def test_one_image_reduces_to_the_ratio_of_medians() -> None:
    baseline = [8.0, 8.1, 7.9, 8.2, 7.8, 8.05]  # an even count: median (8.0 + 8.05) / 2
    target = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
    result = speedup(baseline, target)
    assert result.ratio == pytest.approx(8.025)
    low, high = result.ci95 or (0.0, 0.0)
    assert low <= 8.025 <= high and low > 7.5 and high < 8.6
    assert result.verdict == "faster"
    assert result.keys[0].ci95 == pytest.approx(result.ci95)  # one image: its interval is all


def test_verdicts_and_rates() -> None:
    same = speedup([1.0, 1.2, 0.9, 1.1, 1.0], [1.05, 0.95, 1.15, 1.0, 0.9])
    assert same.verdict == "no clear difference"
    assert same.ci95 is not None and same.ci95[0] < 1 < same.ci95[1]
    slower = speedup([1.0, 1.01, 0.99, 1.0], [2.0, 2.02, 1.98, 2.0])
    assert slower.verdict == "slower" and slower.ratio == pytest.approx(0.5)
    # tokens/s: more is better, so the ratio is target / baseline
    rate = paired_ratio({"x": [10.0, 10.5, 9.5]}, {"x": [30.0, 31.0, 29.0]}, higher_is_better=True)
    assert rate.ratio == pytest.approx(3.0) and rate.verdict == "faster"


def test_only_images_on_both_sides_count_and_single_runs_give_no_interval() -> None:
    result = paired_ratio({"a": [2.0], "b": [4.0], "c": [9.0]}, {"a": [1.0], "b": [1.0]})
    assert [k.key for k in result.keys] == ["a", "b"]
    assert result.ratio == pytest.approx(math.sqrt(2 * 4))
    assert result.ci95 is None and result.verdict == "no clear difference"
    assert result.half_width is None
    assert all(k.ci95 is None for k in result.keys)
    with pytest.raises(ValueError):
        paired_ratio({"a": [1.0]}, {"b": [1.0]})
    with pytest.raises(ValueError):
        paired_ratio({"a": [0.0, 1.0]}, {"a": [1.0, 1.0]})


def test_an_image_far_from_the_rest_is_flagged() -> None:
    # four images at 2×, one at 4×, with 1% noise: far beyond noise and beyond 1.25×
    noise = [1.0, 1.01, 0.99]
    baseline = {i: [2.0 * n * (i + 1) for n in noise] for i in range(5)}
    target = {i: [n * (i + 1) / (2 if i == 4 else 1) for n in noise] for i in range(5)}
    result = paired_ratio(baseline, target)
    assert [k.outlier for k in result.keys] == [False, False, False, False, True]
    # the same gap buried in 40% noise is not flagged: noise explains it
    noisy = [0.6, 1.0, 1.4]
    baseline = {i: [2.0 * n * (i + 1) for n in noisy] for i in range(5)}
    target = {i: [n * (i + 1) / (2 if i == 4 else 1) for n in noisy[::-1]] for i in range(5)}
    assert not any(k.outlier for k in paired_ratio(baseline, target).keys)


def test_paired_difference_is_the_mean_of_per_key_differences() -> None:
    result = paired_difference(
        {"a": [0.5, 0.7], "b": [0.2, 0.2]},
        {"a": [0.9, 0.9], "b": [0.4, 0.6]},
        center=statistics.fmean,
    )
    # a: 0.9 − 0.6 = 0.3; b: 0.5 − 0.2 = 0.3
    assert result.estimate == pytest.approx(0.3)
    assert result.ci95 is not None and result.ci95[0] < 0.3 < result.ci95[1]


def test_intervals_are_reproducible() -> None:
    baseline, target = {"a": [3.0, 4.0, 5.0]}, {"a": [1.0, 2.0, 2.5]}
    assert paired_ratio(baseline, target) == paired_ratio(baseline, target)
