"""The image-size sweep: the scenario run on copies of each image resized to several longest
sides, and what each size costs per target (pure, apart from resizing the copies).

Each copy is named `<stem>@<side>px<suffix>`, keeps its original's label, and is recorded in the
run header with its side, and its bytes and sha256 as sent (`sent_size_bytes`, `sent_sha256`).
Copies of all sizes go into one run, interleaved like any images, so that drift falls on every
size alike. The speed-up per size pairs each image with itself on the two targets.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePath

from pydantic import BaseModel

from ollama_bench.models import ImageInfo, RunHeader, Sample
from ollama_bench.stats import PairedRatio, Summary, Verdict
from ollama_bench.vision.imaging import resize_longest_side
from ollama_bench.vision.scenarios import ImageInput, Scenario

NS_PER_S = 1e9


@dataclass(frozen=True)
class SizedImage(ImageInput):
    """A copy of the file at `path` (image `source`) with its longest side at `side_px`, up or
    down, made in memory when first needed; its header entry describes the file and, as
    `sent_*`, the copy."""

    source: str = ""
    side_px: int = 0

    @property
    def resized(self) -> bool:
        return True

    @cached_property
    def data(self) -> bytes:
        return resize_longest_side(self.original, self.side_px)

    def info(self) -> ImageInfo:
        info = super().info()
        info.side_px, info.source = self.side_px, self.source
        return info


def sized_name(name: str, side_px: int) -> str:
    """`cctv_01.jpg` at 448 px → `cctv_01@448px.jpg`."""
    path = PurePath(name)
    return f"{path.stem}@{side_px}px{path.suffix}"


def sized_scenario(scenario: Scenario, sizes: Sequence[int]) -> Scenario:
    """The scenario with every image replaced by one copy per size, smallest size first."""
    images: list[ImageInput] = [
        SizedImage(
            name=sized_name(image.name, side), path=image.path, source=image.name, side_px=side
        )
        for side in sorted(set(sizes))
        for image in scenario.images
    ]
    labels = dict(scenario.labels)
    for copy in images:
        assert isinstance(copy, SizedImage)
        if copy.source in scenario.labels:
            labels[copy.name] = scenario.labels[copy.source]
    return dataclasses.replace(scenario, images=images, labels=labels)


class SizeRow(BaseModel):
    """One target at one image size (measured requests)."""

    side_px: int
    target: str
    requests: int
    failed: int
    bytes_median: float  # median over the images of their resized copy's size (as sent)
    latency_median_s: float | None
    latency_p90_s: float | None
    ttft_median_s: float | None
    prompt_tokens_median: float | None  # the server's prompt_eval_count: grows with pixels
    valid_rate: float | None
    accuracy: float | None  # mean overall score of the replies with a label


class SizeComparison(BaseModel):
    side_px: int
    target: str
    baseline: str
    speedup: float  # geometric mean over the images of baseline / target median latency
    ci95: tuple[float, float] | None
    verdict: Verdict


class SizeSweep(BaseModel):
    sizes: list[int]
    rows: list[SizeRow]  # ordered by size, then by target as the header lists them
    comparisons: list[SizeComparison]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _row(side: int, target: str, samples: Sequence[Sample], sizes_bytes: list[int]) -> SizeRow:
    done = [s for s in samples if s.ok]
    latencies = [s.timing.latency_ns / NS_PER_S for s in done]
    ttfts = [s.timing.ttft_ns / NS_PER_S for s in done if s.timing.ttft_ns is not None]
    prompts = [
        float(s.timing.server.prompt_eval_count)
        for s in done
        if s.timing.server and s.timing.server.prompt_eval_count is not None
    ]
    validated = [s.validation for s in done if s.validation is not None]
    scored = [s.score["overall"] for s in done if s.score and "overall" in s.score]
    latency = Summary.of(latencies)
    return SizeRow(
        side_px=side,
        target=target,
        requests=len(samples),
        failed=len(samples) - len(done),
        bytes_median=statistics.median(sizes_bytes),
        latency_median_s=latency.median,
        latency_p90_s=latency.p90,
        ttft_median_s=_median(ttfts),
        prompt_tokens_median=_median(prompts),
        valid_rate=sum(v.valid for v in validated) / len(validated) if validated else None,
        accuracy=statistics.fmean(scored) if scored else None,
    )


#: target → (its baseline, its paired speed-up over it, or None), for a subset of the samples
Compare = Callable[[Sequence[Sample]], Mapping[str, tuple[str, PairedRatio | None]]]


def summarise_sizes(
    header: RunHeader, samples: Sequence[Sample], compare: Compare
) -> SizeSweep | None:
    """Per size and target, and the speed-up per size (`compare`: the run's paired speed-up,
    here over the copies of one size, each image paired with itself); None without a sweep."""
    if not header.image_sizes:
        return None
    info = {i.name: i for i in header.images if i.side_px is not None}
    measured = [s for s in samples if s.phase == "measured" and s.image in info]
    names = [t.name for t in header.targets if t.usable]
    rows, comparisons = [], []
    for side in sorted(header.image_sizes):
        copies = [i for i in info.values() if i.side_px == side]
        sizes_bytes = [i.sent_size_bytes or i.size_bytes for i in copies]
        here = [s for s in measured if info[s.image].side_px == side]
        rows += [
            _row(side, name, [s for s in here if s.target == name], sizes_bytes) for name in names
        ]
        for name, (base, result) in compare(here).items():
            if result is not None:
                comparisons.append(
                    SizeComparison(
                        side_px=side,
                        target=name,
                        baseline=base,
                        speedup=result.ratio,
                        ci95=result.ci95,
                        verdict=result.verdict,
                    )
                )
    return SizeSweep(sizes=sorted(header.image_sizes), rows=rows, comparisons=comparisons)
