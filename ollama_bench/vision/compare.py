"""Two runs of one scenario, before and after a change (a new quantisation, an Ollama upgrade,
another num_thread), compared target by target. Pure: no I/O.

Samples are paired by target and image: for each target both runs measured, each metric's values
are grouped by image in run A (the baseline) and in run B, and stats.paired_ratio gives B's
speed-up over A with its 95% CI and verdict, exactly as a speed-up between two targets of one run
(> 1: B is better; for tokens/s, B's rate over A's). Quality is compared as between two targets
of one run (vision/quality.py): B's reply to an image in a round against A's to the same image
in the same round, the score changes clustered by image, and how often the replies are equal.
Runs of different scenarios or images are refused unless forced (then only the images both ran
are paired); differences in model, server version, options or request settings are named as
warnings, since they may be the very change being measured.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from ollama_bench.errors import UsageError
from ollama_bench.models import RunHeader, Sample
from ollama_bench.store import VisionRun
from ollama_bench.vision.quality import (
    Change,
    ReplyDifference,
    agreement,
    paired_samples,
    quality_changes,
)
from ollama_bench.vision.summary import (
    METRICS,
    ImageComparison,
    MetricComparison,
    RunSummary,
    Stat,
    TargetSummary,
    by_image,
    image_comparisons,
    metric_comparison,
    paired_metric,
)

#: Each metric's summary field: its median is shown beside the change.
STATS = {
    "latency": "latency_s",
    "ttft": "ttft_s",
    "prompt_rate": "prompt_tokens_per_s",
    "decode_rate": "decode_tokens_per_s",
}
SETTINGS = (
    *("model", "temperature", "seed", "num_ctx", "num_predict", "structured"),
    *("max_image_side_px", "keep_alive"),
)


class Difference(BaseModel):
    """Something that differs between the two runs, by name, with both values."""

    what: str
    a: str
    b: str


class TargetChange(BaseModel):
    """One target in both runs: each metric's change from A to B, and its quality in each."""

    target: str
    requests: tuple[int, int]  # measured requests sent in A, in B
    failed: tuple[int, int]
    medians: dict[str, tuple[float | None, float | None]]  # metric → A's and B's median
    metrics: dict[str, MetricComparison | None]  # B over A; None when either lacks the metric
    images: list[ImageComparison] = Field(default_factory=list)  # latency; baseline = run A
    valid_rate: tuple[float | None, float | None]
    accuracy: tuple[float | None, float | None]  # overall; None without labels or text only
    # B − A, paired by image and round (vision/quality.py): "overall", "valid_rate", each field
    quality: dict[str, Change] = Field(default_factory=dict)
    identical_reply_rate: float | None = None  # (image, round) pairs with equal parsed replies
    identical_reply_pairs: int = 0
    reply_difference: ReplyDifference | None = None  # the first pair that differs


class RunComparison(BaseModel):
    run_a: str
    run_b: str
    scenario: str
    forced: bool = False
    images: list[str]  # paired: run by both
    differences: list[Difference]  # model, versions, options, settings
    only_in_a: list[str] = Field(default_factory=list)  # targets
    only_in_b: list[str] = Field(default_factory=list)
    targets: list[TargetChange]
    warnings: list[str] = Field(default_factory=list)


def _refusal(a: RunHeader, b: RunHeader) -> str | None:
    """Why two runs are not the same experiment: scenario, prompt, schema or images."""
    if a.scenario != b.scenario:
        return f"they ran different scenarios ({a.scenario} and {b.scenario})"
    if a.prompt_sha256 != b.prompt_sha256:
        return (
            f"the {a.scenario} prompt differs "
            f"(sha256 {a.prompt_sha256[:12]}… and {b.prompt_sha256[:12]}…)"
        )
    if a.schema_sent != b.schema_sent:
        return "the reply schema sent differs"
    images_a = {i.name: i.sha256 for i in a.images}
    images_b = {i.name: i.sha256 for i in b.images}
    for name in images_a.keys() - images_b.keys():
        return f"image {name} is in the first run only ({len(images_a)} and {len(images_b)} images)"
    for name in images_b.keys() - images_a.keys():
        return (
            f"image {name} is in the second run only ({len(images_a)} and {len(images_b)} images)"
        )
    for name, digest in images_a.items():
        if images_b[name] != digest:
            return f"image {name} differs (sha256 {digest[:12]}… and {images_b[name][:12]}…)"
    return None


def _text(value: object) -> str:
    return "–" if value is None else str(value)


def differences(a: RunHeader, b: RunHeader) -> list[Difference]:
    """Model, request settings, and each shared target's URL, server, version, model digest,
    options and images setting, where they differ."""
    found = [
        Difference(
            what=name, a=_text(getattr(a.settings, name)), b=_text(getattr(b.settings, name))
        )
        for name in SETTINGS
        if getattr(a.settings, name) != getattr(b.settings, name)
    ]
    targets_b = {t.name: t for t in b.targets}
    for ta in a.targets:
        tb = targets_b.get(ta.name)
        if tb is None:
            continue
        for field in (
            "url",
            "api",
            "server",
            "version",
            "model_digest",
            "quantization",
            "options",
            "images",
        ):
            va, vb = getattr(ta, field), getattr(tb, field)
            if va != vb:
                found.append(Difference(what=f"{ta.name} {field}", a=_text(va), b=_text(vb)))
    return found


def _change(
    name: str, samples_a: Sequence[Sample], samples_b: Sequence[Sample], images: Sequence[str]
) -> tuple[dict[str, MetricComparison | None], list[ImageComparison]]:
    metrics: dict[str, MetricComparison | None] = {}
    per_image: list[ImageComparison] = []
    for metric in METRICS:
        groups_a = {k: v for k, v in by_image(samples_a, name, metric).items() if k in images}
        groups_b = {k: v for k, v in by_image(samples_b, name, metric).items() if k in images}
        result = paired_metric(groups_a, groups_b, metric)
        metrics[metric] = None if result is None else metric_comparison(result)
        if metric == "latency" and result is not None:
            per_image = image_comparisons(result)
    return metrics, per_image


def _median(summary: TargetSummary, metric: str) -> float | None:
    stat: Stat = getattr(summary, STATS[metric])
    return stat.median


def compare_runs(
    a: VisionRun,
    b: VisionRun,
    summary_a: RunSummary,
    summary_b: RunSummary,
    *,
    force: bool = False,
) -> RunComparison:
    """Run B against run A (the baseline). UsageError (exit 2) when they are not the same
    scenario on the same images, unless `force`."""
    refusal = _refusal(a.header, b.header)
    if refusal and not force:
        raise UsageError(
            f"{summary_a.run_file} and {summary_b.run_file} cannot be compared: {refusal}",
            "--force pairs the images both ran anyway",
        )
    images_b = {i.name for i in b.header.images}
    images = [i.name for i in a.header.images if i.name in images_b]
    by_name_a = {t.name: t for t in summary_a.targets}
    by_name_b = {t.name: t for t in summary_b.targets}
    changes = []
    for name, ta in by_name_a.items():
        tb = by_name_b.get(name)
        if tb is None:
            continue
        metrics, per_image = _change(name, a.samples, b.samples, images)
        pairs = paired_samples(
            (s for s in b.samples if s.target == name and s.image in images),
            (s for s in a.samples if s.target == name),
        )
        fields = [k for k in ta.accuracy if k != "overall"]  # text-only replies carry no score
        agreed = agreement(pairs)
        changes.append(
            TargetChange(
                target=name,
                requests=(ta.samples, tb.samples),
                failed=(ta.failed, tb.failed),
                medians={m: (_median(ta, m), _median(tb, m)) for m in METRICS},
                metrics=metrics,
                images=per_image,
                valid_rate=(ta.valid_rate, tb.valid_rate),
                accuracy=(ta.accuracy.get("overall"), tb.accuracy.get("overall")),
                quality=quality_changes(pairs, fields),
                identical_reply_rate=agreed.rate,
                identical_reply_pairs=agreed.pairs,
                reply_difference=agreed.example,
            )
        )
    found = differences(a.header, b.header)
    warnings = [f"{d.what} differs: {d.a} in the first run, {d.b} in the second" for d in found]
    if refusal:
        warnings.insert(
            0,
            f"compared with --force although {refusal}: "
            f"only the {len(images)} images both ran are paired",
        )
    only_a = [n for n in by_name_a if n not in by_name_b]
    only_b = [n for n in by_name_b if n not in by_name_a]
    if only_a or only_b:
        warnings.append(
            "targets in one run only are not compared: "
            + ", ".join([*(f"{n} (first)" for n in only_a), *(f"{n} (second)" for n in only_b)])
        )
    for change in changes:
        m = change.metrics.get("latency")
        if m is None:
            warnings.append(f"{change.target}: no completed request on an image both runs measured")
        elif m.ci95 is None:
            warnings.append(
                f"{change.target}: no interval, as no image was measured twice in both runs "
                "(raise --runs)"
            )
    return RunComparison(
        run_a=summary_a.run_file,
        run_b=summary_b.run_file,
        scenario=a.header.scenario,
        forced=force and refusal is not None,
        images=images,
        differences=found,
        only_in_a=only_a,
        only_in_b=only_b,
        targets=changes,
        warnings=warnings,
    )
