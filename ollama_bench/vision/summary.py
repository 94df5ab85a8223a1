"""From a run's samples to the figures a report shows: per-target summaries, speed-ups, warnings.

Only measured samples count; warm-ups are stored but left out. Latency, TTFT and token rates
come from requests that completed; a failed request is counted, not timed. Speed-ups are paired
by image (stats.paired_ratio): each image's median on both targets, combined over images; each
comparison also carries the change in quality, paired by image and round (quality.py).
Utilisation is attributed to a target by time: the samples taken while its measured requests
were in flight. Warnings are data, each with a hint naming the flag to try.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from ollama_bench.itl import ItlSummary, summarise_itl
from ollama_bench.models import (
    Api,
    Placement,
    PlacementReading,
    RunHeader,
    Sample,
    ServerTimings,
    StopOutcome,
    TargetInfo,
    Timing,
    UtilisationSample,
)
from ollama_bench.ops.doctor import placement_findings, role_of
from ollama_bench.ops.energy import EnergySummary, energy_note, summarise_energy
from ollama_bench.stats import MIN_N_FOR_P90, PairedRatio, Summary, Verdict, paired_ratio
from ollama_bench.vision.preflight import input_notices
from ollama_bench.vision.quality import (
    Change,
    ReplyDifference,
    agreement,
    paired_samples,
    quality_changes,
    repeat_identical_rate,
)
from ollama_bench.vision.sizes import SizeSweep, summarise_sizes

NS_PER_S = 1e9
SLOW_FIRST_FACTOR = 2.0

#: Each speed-up: how to read its value off a request, and whether higher is better (a rate,
#: compared as target / baseline) or lower (a time, baseline / target).
METRICS: dict[str, tuple[Callable[[Timing], float | None], bool]] = {
    "latency": (lambda t: t.latency_ns / NS_PER_S, False),
    "ttft": (lambda t: t.ttft_ns / NS_PER_S if t.ttft_ns else None, False),
    "prompt_rate": (lambda t: t.prompt_tokens_per_s, True),
    "decode_rate": (lambda t: t.decode_tokens_per_s, True),
}


class Stat(BaseModel):
    """One metric's summary (seconds or tokens/s, as the key that holds it says)."""

    n: int
    median: float | None
    p90: float | None
    p95: float | None = None
    p99: float | None = None
    mean: float | None
    stdev: float | None
    min: float | None
    max: float | None
    # percentiles resting on fewer than 10 (p90), 20 (p95) or 100 (p99) samples: near the maximum
    too_few_for: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        return cls.model_validate(Summary.of(values).as_dict())


class UtilisationSummary(BaseModel):
    """Container CPU and memory, and host GPU use, while this target's measured requests ran."""

    container: str | None = None
    window: Literal["requests", "run"] | None = None  # "run": no container sample fell within
    samples: int = 0  # container readings used
    cpu_pct_mean: float | None = None  # docker stats' CPU %: 100 = one core busy
    cpu_pct_peak: float | None = None
    memory_bytes_peak: int | None = None
    gpu_samples: int = 0  # nvidia-smi readings taken during this target's requests
    gpu_pct_mean: float | None = None  # mean over GPUs, then over readings
    gpu_pct_peak: float | None = None
    gpu_memory_bytes_peak: int | None = None  # summed over GPUs


class TargetSummary(BaseModel):
    name: str
    url: str
    version: str | None = None
    usable: bool = True
    api: Api = "ollama"
    server: str | None = None  # OpenAI-compatible: "llama.cpp", "vLLM", "Ollama" or unknown
    images: bool = True  # False: text only, so its accuracy is left out (None)
    response_format: str | None = None  # OpenAI-compatible: the form the server accepted
    # figures no completed request's server reported (vLLM has no timings, llama.cpp no total):
    # the report says "not reported by this server" instead of a dash
    unreported: list[str] = Field(default_factory=list)
    samples: int = 0  # measured requests sent
    failed: int = 0
    errors: dict[str, int] = Field(default_factory=dict)  # error kind → count
    valid_rate: float | None = None  # valid replies / completed measured requests
    latency_s: Stat
    ttft_s: Stat
    decode_tokens_per_s: Stat
    prompt_tokens_per_s: Stat
    gap_s: Stat  # client latency − server total_duration
    itl: ItlSummary | None = None  # gaps between streamed chunks (itl.py); None: < 2 chunks
    cold_load_s: float | None = None  # median load_duration of requests that paid a load
    suspicious: int = 0  # completed requests whose server timings cannot be true: no rates
    accuracy: dict[str, float | None] = Field(default_factory=dict)  # "overall" and each field
    unanswered: list[str] = Field(default_factory=list)  # fields it does not answer: not scored
    repeat_identical_rate: float | None = None  # later rounds' replies equal to the first's
    accuracy_images: int = 0  # distinct images the accuracy rests on (labelled, answered)
    placement: Placement | None = None  # where the model ran: after the warm-up, else at the end
    utilisation: UtilisationSummary | None = None
    energy: EnergySummary | None = None  # None: no power source was sampled (see energy_note)


class ImageRatio(BaseModel):
    """One image's speed-up for one metric (ratio of its medians), with its own interval."""

    image: str
    speedup: float
    ci95: tuple[float, float] | None = None  # this image's noise alone (stats.KeyRatio.ci95)
    outlier: bool = False


class MetricComparison(BaseModel):
    """One metric's paired speed-up: > 1 when the target is better (faster, more tokens/s)."""

    speedup: float
    ci95: tuple[float, float] | None  # None when no image was repeated on both targets
    verdict: Verdict
    images: list[ImageRatio] = Field(default_factory=list)  # what the speed-up combines


class ImageComparison(BaseModel):
    """One image's median latency on both targets and their ratio."""

    image: str
    baseline_s: float
    target_s: float
    speedup: float  # baseline_s / target_s
    baseline_n: int
    target_n: int
    outlier: bool  # far from the other images' speed-up (stats.OUTLIER_FACTOR, OUTLIER_Z)
    ci95: tuple[float, float] | None = None  # this image's own interval (stats.KeyRatio.ci95)


class Comparison(BaseModel):
    target: str
    baseline: str
    speedup: float  # latency: geometric mean over images of baseline median / target median
    ci95: tuple[float, float] | None
    verdict: Verdict
    # latency, ttft, prompt_rate, decode_rate; None when a target reported no such value
    metrics: dict[str, MetricComparison | None] = Field(default_factory=dict)
    images: list[ImageComparison] = Field(default_factory=list)
    # target − baseline, paired by image and round: "overall", "valid_rate" and each field
    quality: dict[str, Change] = Field(default_factory=dict)
    identical_reply_rate: float | None = None  # (image, round) pairs with equal parsed replies
    identical_reply_pairs: int = 0
    reply_difference: ReplyDifference | None = None  # the first pair that differs


class StopSummary(BaseModel):
    """Why the measured rounds ended, and how many there were."""

    reason: Literal["runs", "precision", "max-runs", "interrupted"]
    rounds: int  # complete rounds: every image on every target
    until_ci_pct: float | None = None
    max_runs: int | None = None  # only with until_ci_pct
    half_width_pct: float | None = None  # widest latency speed-up CI half-width at the stop
    message: str


class Warning(BaseModel):
    target: str | None
    code: str
    message: str
    hint: str = ""


class RunSummary(BaseModel):
    run_file: str
    scenario: str
    model: str
    structured: bool
    interrupted: bool = False
    stop: StopSummary | None = None
    segments: int = 1  # 1 + the times the run was resumed
    targets: list[TargetSummary]
    comparisons: list[Comparison]
    warnings: list[Warning]
    energy_note: str | None = None  # why energy is not measurable here; None when it is
    sizes: SizeSweep | None = None  # --image-sizes: per size and target; None without a sweep


def _seconds(values_ns: Sequence[int | None]) -> list[float]:
    return [v / NS_PER_S for v in values_ns if v is not None]


def summarise_target(
    name: str, url: str, samples: Sequence[Sample], field_names: Sequence[str]
) -> TargetSummary:
    measured = [s for s in samples if s.phase == "measured"]
    done = [s for s in measured if s.ok]
    validated = [s for s in done if s.validation is not None]
    scored = [s.score for s in done if s.score is not None]
    timings = [s.timing for s in done]
    cold_loads = [
        s.timing.server.load_duration_ns for s in samples if s.timing.cold and s.timing.server
    ]
    accuracy: dict[str, float | None] = {}
    for key in ["overall", *field_names]:  # a field this target does not answer stays None
        values = [sc[key] for sc in scored if key in sc]
        accuracy[key] = statistics.fmean(values) if values else None
    unanswered = sorted({f for s in measured for f in s.unanswered})
    return TargetSummary(
        name=name,
        url=url,
        samples=len(measured),
        failed=len(measured) - len(done),
        errors=dict(Counter(s.error.kind for s in measured if s.error)),
        valid_rate=(sum(s.validation.valid for s in validated if s.validation) / len(validated))
        if validated
        else None,
        latency_s=Stat.of(_seconds([t.latency_ns for t in timings])),
        ttft_s=Stat.of(_seconds([t.ttft_ns for t in timings])),
        decode_tokens_per_s=Stat.of(
            [r for t in timings if (r := t.decode_tokens_per_s) is not None]
        ),
        prompt_tokens_per_s=Stat.of(
            [r for t in timings if (r := t.prompt_tokens_per_s) is not None]
        ),
        gap_s=Stat.of(_seconds([t.gap_ns for t in timings])),
        itl=summarise_itl(timings),
        cold_load_s=statistics.median(_seconds(cold_loads)) if cold_loads else None,
        suspicious=sum(1 for t in timings if t.suspicious),
        accuracy=accuracy,
        unanswered=unanswered,
        repeat_identical_rate=repeat_identical_rate(measured),
        accuracy_images=len({s.image for s in done if s.score is not None}),
        unreported=unreported([t.server for t in timings if t.server is not None]),
    )


#: Summary figure → the server field it needs.
_NEEDS = {
    "prompt_tokens_per_s": "prompt_eval_duration_ns",
    "decode_tokens_per_s": "eval_duration_ns",
    "gap_s": "total_duration_ns",
    "cold_load_s": "load_duration_ns",
}


def unreported(servers: Sequence[ServerTimings]) -> list[str]:
    """Figures for which no request's server account had the field (none when none completed)."""
    if not servers:
        return []
    return [
        figure
        for figure, field in _NEEDS.items()
        if all(getattr(s, field) is None for s in servers)
    ]


def _windows(samples: Sequence[Sample]) -> list[tuple[datetime, datetime]]:
    measured = [s for s in samples if s.phase == "measured"]
    return [
        (s.started_at, s.started_at + timedelta(microseconds=s.timing.latency_ns / 1000))
        for s in measured
    ]


def _within(at: datetime, windows: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(start <= at <= end for start, end in windows)


def summarise_utilisation(
    container: str | None, samples: Sequence[Sample], readings: Sequence[UtilisationSample]
) -> UtilisationSummary | None:
    """Mean and peak over the readings taken while this target's measured requests ran. When no
    container reading fell within them (requests shorter than the interval), the whole run's."""
    windows = _windows(samples)
    ok = [r for r in readings if r.error is None]
    mine = [r for r in ok if r.source == "docker" and container and r.container == container]
    during = [r for r in mine if _within(r.at, windows)]
    gpus = [r for r in ok if r.source == "nvidia" and r.gpus and _within(r.at, windows)]
    if not mine and not gpus:
        return None
    used = during or mine
    cpu = [r.cpu_pct for r in used if r.cpu_pct is not None]
    memory = [r.memory_bytes for r in used if r.memory_bytes is not None]
    gpu_pct = [
        statistics.fmean(values)
        for r in gpus
        if (values := [g.utilisation_pct for g in r.gpus if g.utilisation_pct is not None])
    ]
    gpu_memory = [sum(g.memory_used_bytes or 0 for g in r.gpus) for r in gpus]
    return UtilisationSummary(
        container=container,
        window=("requests" if during else "run") if mine else None,
        samples=len(used),
        cpu_pct_mean=statistics.fmean(cpu) if cpu else None,
        cpu_pct_peak=max(cpu) if cpu else None,
        memory_bytes_peak=max(memory) if memory else None,
        gpu_samples=len(gpus),
        gpu_pct_mean=statistics.fmean(gpu_pct) if gpu_pct else None,
        gpu_pct_peak=max(gpu_pct) if gpu_pct else None,
        gpu_memory_bytes_peak=max(gpu_memory) if gpu_memory else None,
    )


def target_energy(
    samples: Sequence[Sample], readings: Sequence[UtilisationSample]
) -> EnergySummary | None:
    """Energy over this target's measured requests (failed ones too: they drew power), per
    completed request and per output token (ops/energy.py)."""
    measured = [s for s in samples if s.phase == "measured"]
    windows = [(start.timestamp(), end.timestamp()) for start, end in _windows(measured)]
    done = [s.timing for s in measured if s.ok]
    tokens = [
        t.server.eval_count
        for t in done
        if t.server and t.server.eval_count is not None and not t.suspicious
    ]
    return summarise_energy(windows, len(done), sum(tokens) if tokens else None, readings)


def chosen_placement(
    name: str, readings: Sequence[PlacementReading], probe: Placement | None = None
) -> Placement | None:
    """The first reading during the run that found the model loaded (after the warm-up, else at
    the end); else the probe's, when it found the model loaded (a file without a footer has no
    reading), else whatever was read."""
    mine = [r for r in readings if r.target == name]
    loaded = [r for r in mine if r.placement.loaded]
    if loaded:
        return loaded[0].placement
    if probe is not None:
        return probe
    return mine[0].placement if mine else None


def baseline_name(names: Sequence[str]) -> str:
    """The target called `cpu` if there is one, else the first."""
    return "cpu" if "cpu" in names else names[0]


def by_image(samples: Sequence[Sample], target: str, metric: str) -> dict[str, list[float]]:
    """One metric's values for one target, from completed measured requests, grouped by image."""
    value_of = METRICS[metric][0]
    groups: dict[str, list[float]] = {}
    for s in samples:
        if s.target == target and s.phase == "measured" and s.ok:
            value = value_of(s.timing)
            if value is not None and value > 0:
                groups.setdefault(s.image, []).append(value)
    return groups


def paired_speedups(
    names: Sequence[str], samples: Sequence[Sample], metric: str = "latency"
) -> dict[str, tuple[str, PairedRatio | None]]:
    """Every timed target's speed-up over the baseline for one metric: target → (baseline,
    result), None where the two share no image with a value."""
    timed = [name for name in names if by_image(samples, name, "latency")]
    if len(timed) < 2:
        return {}
    base = baseline_name(timed)
    base_groups = by_image(samples, base, metric)
    return {
        name: (base, paired_metric(base_groups, by_image(samples, name, metric), metric))
        for name in timed
        if name != base
    }


def paired_metric(
    baseline: dict[str, list[float]], target: dict[str, list[float]], metric: str
) -> PairedRatio | None:
    """`metric`'s paired speed-up of `target` over `baseline` (values by image); None when the
    two share no image with a value."""
    if not any(image in target for image in baseline):
        return None
    return paired_ratio(baseline, target, higher_is_better=METRICS[metric][1])


def complete_rounds(header: RunHeader, samples: Sequence[Sample]) -> int:
    """Rounds in which every image went to every usable target (failed requests count)."""
    names = [t.name for t in header.targets if t.usable]
    wanted = {(image.name, name) for image in header.images for name in names}
    seen: dict[int, set[tuple[str, str]]] = {}
    for s in samples:
        if s.phase == "measured":
            seen.setdefault(s.repeat, set()).add((s.image, s.target))
    rounds = 0
    while wanted and seen.get(rounds, set()) >= wanted:
        rounds += 1
    return rounds


def summarise(
    header: RunHeader,
    samples: Sequence[Sample],
    run_file: str,
    interrupted: bool = False,
    *,
    placements: Sequence[PlacementReading] = (),
    utilisation: Sequence[UtilisationSample] = (),
    stop: StopOutcome | None = None,
    segments: int = 1,
) -> RunSummary:
    field_names = _field_names(samples)
    by_target = {t.name: [s for s in samples if s.target == t.name] for t in header.targets}
    containers = header.monitoring.containers if header.monitoring else {}
    targets = []
    for info in header.targets:
        summary = summarise_target(info.name, info.url, by_target[info.name], field_names)
        summary.version, summary.usable = info.version, info.usable
        summary.api, summary.server, summary.images = info.api, info.server, info.images
        summary.response_format = info.response_format
        summary.placement = chosen_placement(info.name, placements, info.placement)
        summary.utilisation = summarise_utilisation(
            containers.get(info.name), by_target[info.name], utilisation
        )
        summary.energy = target_energy(by_target[info.name], utilisation)
        targets.append(summary)
    latencies = {
        name: [s.timing.latency_ns / NS_PER_S for s in group if s.ok and s.phase == "measured"]
        for name, group in by_target.items()
    }
    names = [t.name for t in header.targets]
    comparisons = _comparisons(names, samples)
    stopped = _stop_summary(header, samples, stop, interrupted)
    for comparison in comparisons:
        pairs = paired_samples(by_target[comparison.target], by_target[comparison.baseline])
        # a text-only side's replies are not scored (runner.execute): only validity is compared
        comparison.quality = quality_changes(pairs, field_names)
        agreed = agreement(pairs)
        comparison.identical_reply_rate = agreed.rate
        comparison.identical_reply_pairs = agreed.pairs
        comparison.reply_difference = agreed.example
    warnings = _warnings(header, targets, by_target, comparisons, latencies)
    warnings += _verdict_warnings(comparisons, stopped)
    warnings += _hardware_warnings(header, targets, placements, utilisation)
    return RunSummary(
        run_file=run_file,
        scenario=header.scenario,
        model=header.settings.model,
        structured=header.settings.structured,
        interrupted=interrupted,
        stop=stopped,
        segments=segments,
        targets=targets,
        comparisons=comparisons,
        warnings=warnings,
        energy_note=energy_note(header.monitoring),
        sizes=summarise_sizes(header, samples, lambda subset: paired_speedups(names, subset)),
    )


def _field_names(samples: Sequence[Sample]) -> list[str]:
    names: dict[str, None] = {}
    for sample in samples:
        for key in sample.score or {}:
            if key != "overall":
                names[key] = None
    return list(names)


def metric_comparison(result: PairedRatio) -> MetricComparison:
    """A paired ratio as the summary keeps it, with each image's ratio and interval."""
    return MetricComparison(
        speedup=result.ratio,
        ci95=result.ci95,
        verdict=result.verdict,
        images=[
            ImageRatio(image=str(k.key), speedup=k.ratio, ci95=k.ci95, outlier=k.outlier)
            for k in result.keys
        ],
    )


def image_comparisons(latency: PairedRatio) -> list[ImageComparison]:
    """Each image's median latency on both arms and their ratio, from a latency speed-up."""
    return [
        ImageComparison(
            image=str(k.key),
            baseline_s=k.baseline,
            target_s=k.target,
            speedup=k.ratio,
            baseline_n=k.n_baseline,
            target_n=k.n_target,
            outlier=k.outlier,
            ci95=k.ci95,
        )
        for k in latency.keys
    ]


def _comparisons(names: Sequence[str], samples: Sequence[Sample]) -> list[Comparison]:
    by_metric = {metric: paired_speedups(names, samples, metric) for metric in METRICS}
    comparisons = []
    for name, (base, latency) in by_metric["latency"].items():
        if latency is None:
            continue
        metrics: dict[str, MetricComparison | None] = {}
        for metric, results in by_metric.items():
            result = results[name][1] if name in results else None
            metrics[metric] = None if result is None else metric_comparison(result)
        images = image_comparisons(latency)
        comparisons.append(
            Comparison(
                target=name,
                baseline=base,
                speedup=latency.ratio,
                ci95=latency.ci95,
                verdict=latency.verdict,
                metrics=metrics,
                images=images,
            )
        )
    return comparisons


def _stop_summary(
    header: RunHeader, samples: Sequence[Sample], stop: StopOutcome | None, interrupted: bool
) -> StopSummary:
    pct = header.stop.until_ci_pct
    most = header.stop.max_runs if pct is not None else None
    if stop is None or interrupted:
        rounds = complete_rounds(header, samples)
        return StopSummary(
            reason="interrupted",
            rounds=rounds,
            until_ci_pct=pct,
            max_runs=most,
            message=f"interrupted after {rounds} complete round(s)",
        )
    widest = "" if stop.half_width_pct is None else f" (widest ±{stop.half_width_pct:.1f}%)"
    message = f"{stop.rounds} rounds, as --runs asked"
    if stop.reason == "precision":
        message = (
            f"precision reached after {stop.rounds} rounds: every latency speed-up within "
            f"±{pct:g}%{widest}"
        )
    elif stop.reason == "max-runs":
        message = (
            f"--max-runs {most} reached before every latency speed-up was within ±{pct:g}%{widest}"
        )
    return StopSummary(
        reason=stop.reason,
        rounds=stop.rounds,
        until_ci_pct=pct,
        max_runs=most,
        half_width_pct=stop.half_width_pct,
        message=message,
    )


def _verdict_warnings(comparisons: Sequence[Comparison], stop: StopSummary) -> list[Warning]:
    """Intervals too wide to say much, images that disagree with the rest, precision not met."""
    found: list[Warning] = []
    for c in comparisons:
        if c.ci95 is not None and c.ci95[1] - c.ci95[0] > c.speedup:
            found.append(
                Warning(
                    target=c.target,
                    code="wide-ci",
                    message=f"the 95% CI of {c.target}'s speed-up ({c.ci95[0]:.2f}× – "
                    f"{c.ci95[1]:.2f}×) is wider than the speed-up itself",
                    hint="add rounds until it is precise with --until-ci 5",
                )
            )
        for image in c.images:
            if image.outlier:
                others = [i.speedup for i in c.images if i is not image]
                rest = math.exp(statistics.fmean(math.log(r) for r in others))
                found.append(
                    Warning(
                        target=c.target,
                        code="image-outlier",
                        message=f"on {image.image} {c.target} is {image.speedup:.2f}× the "
                        f"baseline, far from the {rest:.2f}× of the other images",
                        hint="the headline is the geometric mean over images; see the "
                        "per-image table",
                    )
                )
    if stop.reason == "max-runs":
        found.append(
            Warning(
                target=None,
                code="precision-not-reached",
                message=stop.message,
                hint="raise --max-runs, or accept a wider --until-ci",
            )
        )
    return found


def probe_warnings(infos: Sequence[TargetInfo]) -> list[Warning]:
    """What the probe said of each target, and the targets left out of the run."""
    found: list[Warning] = []
    for info in infos:
        found += [Warning(target=info.name, code="target", message=w) for w in info.warnings]
        if info.error:
            found.append(
                Warning(
                    target=info.name,
                    code="unusable",
                    message=info.error,
                    hint="it was left out of the run",
                )
            )
    return found


def _warnings(
    header: RunHeader,
    targets: Sequence[TargetSummary],
    by_target: dict[str, list[Sample]],
    comparisons: Sequence[Comparison],
    latencies: dict[str, list[float]],
) -> list[Warning]:
    found = probe_warnings(header.targets)
    images = max(len(header.images), 1)
    apis = {info.name: info.api for info in header.targets}
    for summary in targets:
        name, measured = summary.name, [s for s in by_target[summary.name] if s.phase == "measured"]
        n = summary.latency_s.n
        if 0 < n < MIN_N_FOR_P90:
            # rounds scaled by the share that completed: failures cost samples too
            rounds = len({s.repeat for s in measured}) or 1
            runs = max(math.ceil(MIN_N_FOR_P90 / images), math.ceil(MIN_N_FOR_P90 * rounds / n))
            found.append(
                Warning(
                    target=name,
                    code="few-samples",
                    message=f"p90 of {name} rests on {n} samples, so it is close to the maximum",
                    hint=f"use --runs {runs} or more for a meaningful p90",
                )
            )
        if summary.failed:
            kinds = ", ".join(f"{k} ×{c}" for k, c in sorted(summary.errors.items()))
            found.append(
                Warning(
                    target=name,
                    code="failures",
                    message=f"{summary.failed} of {summary.samples} requests on {name} failed "
                    f"({kinds})",
                    hint="each error is in the run file; failed requests are not timed",
                )
            )
        implausible = [s for s in measured if s.ok and s.timing.suspicious]
        if implausible:
            found.append(
                Warning(
                    target=name,
                    code="implausible-timings",
                    message=f"{len(implausible)} of {summary.samples} requests on {name} "
                    f"reported server timings that cannot be true "
                    f"({implausible[0].timing.suspicious[0]}): their token rates, gap and "
                    "load time are left out",
                    hint="latency and TTFT are the client's own and still count; "
                    "is the server's clock or version sound?",
                )
            )
        skipped = [s for s in measured if s.error and s.error.kind == "skipped"]
        if skipped and skipped[0].error:
            why = skipped[0].error.message.removeprefix("not sent: ")
            found.append(
                Warning(
                    target=name,
                    code="gave-up",
                    message=f"{len(skipped)} of its {summary.samples} measured requests were "
                    f"not sent ({why})",
                    hint="they count as failed; --give-up-after sets how many connect failures "
                    "or timeouts in a row end a target (0: never)",
                )
            )
        cold = [s for s in measured if s.timing.cold]
        if cold:
            found.append(
                Warning(
                    target=name,
                    code="cold-measured",
                    message=f"{len(cold)} measured request(s) on {name} paid a model load",
                    hint="raise --warmup; keep keep_alive and runner options fixed during the run",
                )
            )
        values = latencies.get(name, [])
        if len(values) >= 3 and values[0] > SLOW_FIRST_FACTOR * statistics.median(values[1:]):
            ratio = values[0] / statistics.median(values[1:])
            found.append(
                Warning(
                    target=name,
                    code="slow-first",
                    message=f"the first measured request on {name} took {ratio:.1f}× "
                    "the median of the rest",
                    hint="caches or a model load; raise --warmup",
                )
            )
        replies = [s for s in measured if s.validation is not None]
        invalid = [s for s in replies if s.validation and not s.validation.valid]
        served = apis.get(name) != "ocr"  # an in-process OCR target is sent no schema
        if header.settings.structured and invalid and served:
            found.append(
                Warning(
                    target=name,
                    code="schema-ignored",
                    message=f"the schema was sent as format, yet {len(invalid)} of "
                    f"{len(replies)} replies on {name} do not follow it",
                    hint="Ollama before 0.5.0 ignores schemas; see each sample's validation errors",
                )
            )
        cut = [s for s in replies if s.timing.server and s.timing.server.done_reason == "length"]
        if cut:
            found.append(
                Warning(
                    target=name,
                    code="cut-off",
                    message=f"{len(cut)} replies on {name} stopped at num_predict",
                    hint=f"raise --num-predict (now {header.settings.num_predict})",
                )
            )
    found += [
        Warning(target=None, code=n.code, message=n.message, hint=n.hint)
        for n in input_notices(header.images, header.labels)
    ]
    if header.labels == {} and any(s.samples for s in targets):
        found.append(
            Warning(
                target=None,
                code="no-labels",
                message="no labels.json: accuracy is not scored",
                hint="add labels.json beside the images (file name → expected reply)",
            )
        )
    for comparison in comparisons:
        if any(c.ci95 is None for c in comparison.quality.values()):
            found.append(
                Warning(
                    target=comparison.target,
                    code="no-quality-ci",
                    message=f"the change in quality of {comparison.target} rests on one image, "
                    "so it has no interval",
                    hint="quality is compared image by image: use two images or more",
                )
            )
        if comparison.ci95 is None:
            found.append(
                Warning(
                    target=comparison.target,
                    code="no-ci",
                    message="too few completed requests to put an interval on "
                    f"{comparison.target}'s speed-up",
                    hint="an image must be measured twice on each target; raise --runs",
                )
            )
    return found


def _hardware_warnings(
    header: RunHeader,
    targets: Sequence[TargetSummary],
    placements: Sequence[PlacementReading],
    utilisation: Sequence[UtilisationSample],
) -> list[Warning]:
    """Where the model ran against the target's name, and what utilisation could not be read."""
    found: list[Warning] = []
    for summary in targets:
        if summary.placement is not None:
            found += [
                Warning(target=f.target, code=f.code, message=f.message, hint=f.hint)
                for f in placement_findings(summary.name, summary.placement)
            ]
        loaded = [r for r in placements if r.target == summary.name and r.placement.loaded]
        labels = [r.placement.label for r in loaded]
        if len(set(labels)) > 1:
            found.append(
                Warning(
                    target=summary.name,
                    code="placement-changed",
                    message=f"{summary.name} ran the model {labels[0]} after the warm-up "
                    f"but {labels[-1]} at the end: it was reloaded elsewhere during the run",
                    hint="keep other models off that server during a run; see obench doctor",
                )
            )
    monitoring = header.monitoring
    if monitoring is not None and monitoring.docker_note:
        found.append(
            Warning(
                target=None,
                code="no-utilisation",
                message=f"container CPU and memory not sampled: {monitoring.docker_note}",
                hint="run the servers with obench up to see them",
            )
        )
    wants_gpu = any(role_of(t.name) == "gpu" for t in targets)
    if monitoring is not None and monitoring.nvidia_note and wants_gpu:
        found.append(
            Warning(
                target=None,
                code="no-gpu-utilisation",
                message=f"GPU utilisation not sampled: {monitoring.nvidia_note}",
            )
        )
    for reading in utilisation:
        if reading.error:
            found.append(Warning(target=None, code="utilisation-stopped", message=reading.error))
    return found
