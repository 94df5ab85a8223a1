"""Warnings computed from stored samples: each suggests a flag value that would cure it."""

from __future__ import annotations

from test_quality import IMAGES, header, right, sample

from ollama_bench.models import ImageInfo, TargetInfo
from ollama_bench.vision.summary import summarise


def few_samples_hint(completed_per_image: dict[str, int], rounds: int) -> str:
    samples = [
        sample("cpu", image, r, right(image) if r < completed_per_image[image] else None)
        for image in completed_per_image
        for r in range(rounds)
    ]
    images = [ImageInfo(name=i, sha256="0" * 64, size_bytes=1) for i in completed_per_image]
    run = header([TargetInfo(name="cpu", url="http://c")]).model_copy(update={"images": images})
    summary = summarise(run, samples, "r.jsonl")
    (warning,) = [w for w in summary.warnings if w.code == "few-samples"]
    return warning.hint


def test_few_samples_hint_asks_for_enough_rounds() -> None:
    # 2 images × 3 rounds, all completed: 6 samples, so 5 rounds give the 10 a p90 needs
    assert few_samples_hint({i: 3 for i in IMAGES[:2]}, 3) == (
        "use --runs 5 or more for a meaningful p90"
    )


def test_few_samples_hint_counts_failed_requests() -> None:
    # 3 images × 3 rounds with 4 failures: 5 of 9 completed, so 10 need 10 · 3 / 5 = 6 rounds,
    # not the 4 that 3 images alone would suggest
    completed = dict(zip(IMAGES[:3], (1, 2, 2), strict=True))
    assert sum(completed.values()) == 5
    assert few_samples_hint(completed, 3) == "use --runs 6 or more for a meaningful p90"
