"""From a run's samples to the figures a report shows: per-target summaries, speed-ups, warnings.

Only measured samples count; warm-ups are stored but left out. Latency, TTFT and token rates
come from requests that completed; a failed request is counted, not timed. Each comparison with
the baseline carries the speed-up and the change in quality (quality.py). Utilisation is
attributed to a target by time: the samples taken while its measured requests were in flight.
Warnings are data, each with a hint naming the flag to try.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from ollama_bench.models import (
    Api,
    Placement,
    PlacementReading,
    RunHeader,
    Sample,
    ServerTimings,
    UtilisationSample,
)
from ollama_bench.ops.doctor import placement_findings, role_of
from ollama_bench.stats import MIN_N_FOR_P90, Summary, Verdict, speedup
from ollama_bench.vision.preflight import input_notices
from ollama_bench.vision.quality import (
    Change,
    ReplyDifference,
    agreement,
    paired_samples,
    quality_changes,
    repeat_identical_rate,
)

NS_PER_S = 1e9
MIN_N_FOR_CI = 3  # a bootstrap of fewer values per group says nothing
SLOW_FIRST_FACTOR = 2.0


class Stat(BaseModel):
    """One metric's summary (seconds or tokens/s, as the key that holds it says)."""

    n: int
    median: float | None
    p90: float | None
    mean: float | None
    stdev: float | None
    min: float | None
    max: float | None

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
    cold_load_s: float | None = None  # median load_duration of requests that paid a load
    suspicious: int = 0  # completed requests whose server timings cannot be true: no rates
    accuracy: dict[str, float | None] = Field(default_factory=dict)  # "overall" and each field
    unanswered: list[str] = Field(default_factory=list)  # fields it does not answer: not scored
    repeat_identical_rate: float | None = None  # later rounds' replies equal to the first's
    accuracy_images: int = 0  # distinct images the accuracy rests on (labelled, answered)
    placement: Placement | None = None  # where the model ran: after the warm-up, else at the end
    utilisation: UtilisationSummary | None = None


class Comparison(BaseModel):
    target: str
    baseline: str
    speedup: float  # baseline median latency / target median latency
    ci95: tuple[float, float] | None
    verdict: Verdict
    # target − baseline, paired by image and round: "overall", "valid_rate" and each field
    quality: dict[str, Change] = Field(default_factory=dict)
    identical_reply_rate: float | None = None  # (image, round) pairs with equal parsed replies
    identical_reply_pairs: int = 0
    reply_difference: ReplyDifference | None = None  # the first pair that differs


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
    targets: list[TargetSummary]
    comparisons: list[Comparison]
    warnings: list[Warning]


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


def chosen_placement(name: str, readings: Sequence[PlacementReading]) -> Placement | None:
    """The reading after the warm-up if the model was loaded then, else the one at the end."""
    mine = [r for r in readings if r.target == name]
    loaded = [r for r in mine if r.placement.loaded]
    if loaded:
        return loaded[0].placement
    return mine[0].placement if mine else None


def baseline_name(names: Sequence[str]) -> str:
    """The target called `cpu` if there is one, else the first."""
    return "cpu" if "cpu" in names else names[0]


def summarise(
    header: RunHeader,
    samples: Sequence[Sample],
    run_file: str,
    interrupted: bool = False,
    *,
    placements: Sequence[PlacementReading] = (),
    utilisation: Sequence[UtilisationSample] = (),
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
        if not info.images:  # its replies describe no image: no accuracy to compare
            summary.accuracy = dict.fromkeys(summary.accuracy)
            summary.accuracy_images = 0
        chosen = chosen_placement(info.name, placements)
        if (chosen is None or not chosen.loaded) and info.placement is not None:
            chosen = info.placement  # no reading during the run (no footer): the probe's
        summary.placement = chosen
        summary.utilisation = summarise_utilisation(
            containers.get(info.name), by_target[info.name], utilisation
        )
        targets.append(summary)
    latencies = {
        name: [s.timing.latency_ns / NS_PER_S for s in group if s.ok and s.phase == "measured"]
        for name, group in by_target.items()
    }
    timed = [name for name, values in latencies.items() if values]
    comparisons = []
    text_only = {info.name for info in header.targets if not info.images}
    if len(timed) > 1:
        base = baseline_name(timed)
        for name in timed:
            if name != base:
                comparison = _compare(name, base, latencies[name], latencies[base])
                pairs = paired_samples(by_target[name], by_target[base])
                # a text-only side saw no image: its accuracy is not compared, its validity is
                fields = [] if {name, base} & text_only else field_names
                comparison.quality = quality_changes(pairs, fields)
                agreed = agreement(pairs)
                comparison.identical_reply_rate = agreed.rate
                comparison.identical_reply_pairs = agreed.pairs
                comparison.reply_difference = agreed.example
                comparisons.append(comparison)
    warnings = _warnings(header, targets, by_target, comparisons, latencies)
    warnings += _hardware_warnings(header, targets, placements, utilisation)
    return RunSummary(
        run_file=run_file,
        scenario=header.scenario,
        model=header.settings.model,
        structured=header.settings.structured,
        interrupted=interrupted,
        targets=targets,
        comparisons=comparisons,
        warnings=warnings,
    )


def _field_names(samples: Sequence[Sample]) -> list[str]:
    names: dict[str, None] = {}
    for sample in samples:
        for key in sample.score or {}:
            if key != "overall":
                names[key] = None
    return list(names)


def _compare(target: str, base: str, target_s: list[float], base_s: list[float]) -> Comparison:
    if min(len(target_s), len(base_s)) < MIN_N_FOR_CI:
        ratio = statistics.median(base_s) / statistics.median(target_s)
        return Comparison(
            target=target, baseline=base, speedup=ratio, ci95=None, verdict="no clear difference"
        )
    result = speedup(base_s, target_s)
    return Comparison(
        target=target, baseline=base, speedup=result.ratio, ci95=result.ci95, verdict=result.verdict
    )


def _warnings(
    header: RunHeader,
    targets: Sequence[TargetSummary],
    by_target: dict[str, list[Sample]],
    comparisons: Sequence[Comparison],
    latencies: dict[str, list[float]],
) -> list[Warning]:
    found: list[Warning] = []
    images = max(len(header.images), 1)
    apis = {info.name: info.api for info in header.targets}
    for info in header.targets:
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
    for summary in targets:
        name, measured = summary.name, [s for s in by_target[summary.name] if s.phase == "measured"]
        n = summary.latency_s.n
        if 0 < n < MIN_N_FOR_P90:
            runs = math.ceil(MIN_N_FOR_P90 / images)
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
                    hint=f"at least {MIN_N_FOR_CI} per target are needed; raise --runs",
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
