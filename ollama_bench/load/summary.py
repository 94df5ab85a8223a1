"""From a load run's samples to what a report shows: per step throughput, latency, queueing,
goodput, ITL and energy; per target the knee. Pure: no I/O.

Definitions (the README has them too):
- throughput: completed requests / step time (step start → last reply); output tokens/s: their
  `eval_count`, summed, over the same time (system throughput, not per-request decode speed).
- latency, TTFT: as in vision (client clock); p50/p90/p95/p99 by linear interpolation (type 7).
- queueing: client latency − the server's own work (load + prompt eval + eval durations): the
  time a request spent not being served. Ollama counts the wait for a free slot inside
  `total_duration`, so latency − total_duration would miss it; this does not.
- queue growth: least-squares slope of queueing against send time (seconds of queueing added
  per second of the step): ≈ 0 when the server keeps up, ≈ offered/capacity − 1 when it does not.
- lag (open loop): actual send time − scheduled send time, the client's own lateness.
- goodput: completed requests within `--slo-latency`, per second of step time (vLLM's goodput
  with a single end-to-end latency SLO).
- served/offered (open loop): replies/s between the first and the last reply over sends/s
  between the first and the last send; below KEEP_UP_SHARE the server fell behind.
- knee: see `closed_loop_knee` and `open_loop_knee`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field, computed_field

from ollama_bench.itl import ItlSummary, summarise_itl
from ollama_bench.load.records import ORDER, LoadHeader, LoadSample, StepSpec
from ollama_bench.models import Api, Placement, PlacementReading, Timing, UtilisationSample
from ollama_bench.ops.energy import EnergySummary, energy_note, summarise_energy
from ollama_bench.stats import Summary, min_n_for
from ollama_bench.vision.summary import Warning, chosen_placement, probe_warnings

NS_PER_S = 1e9
#: Closed loop: the knee is the last step after which more requests in flight bought less than
#: this share of the proportional throughput gain (1: doubling them doubled throughput; 0: none).
KNEE_EFFICIENCY = 0.5
#: Open loop: a step is kept up with when requests were served at this share of their arrival rate.
KEEP_UP_SHARE = 0.9
MIN_N_FOR_P99 = min_n_for(99)  # below, the p99 interpolates between the two largest values
LAG_WARN_S = 0.010  # an open-loop request sent this late means the client is falling behind


class Percentiles(BaseModel):
    """Tail summary of one metric in seconds; None fields when there is no value."""

    n: int
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        """stats.Summary's figures, under the names load's JSON has always had."""
        s = Summary.of(values)
        return cls(n=s.n, p50=s.median, p90=s.p90, p95=s.p95, p99=s.p99, mean=s.mean, max=s.max)


def server_work_ns(timing: Timing) -> int | None:
    """Load + prompt eval + eval durations: the time the server spent on this request itself;
    None without them or when they cannot be true (models.Timing.suspicious)."""
    s = None if timing.suspicious else timing.server
    parts = (s.load_duration_ns, s.prompt_eval_duration_ns, s.eval_duration_ns) if s else ()
    if not any(p is not None for p in parts):
        return None
    return sum(p or 0 for p in parts)


def queueing_ns(timing: Timing) -> int | None:
    """Client latency − server work: waiting for a slot, network, HTTP and client parsing."""
    work = server_work_ns(timing)
    return None if work is None else timing.latency_ns - work


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys on xs; None below three points or with no spread in xs.

    >>> slope([0, 1, 2, 3], [1, 3, 5, 7])
    2.0
    """
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


class StepSummary(BaseModel):
    """One step of one target (measured requests only)."""

    step: int
    mode: str  # "concurrency" (closed loop) or "rate" (open loop, Poisson)
    label: str  # "c=4", "2 req/s"
    concurrency: int | None = None
    rate_per_s: float | None = None  # open loop: the mean arrival rate asked for
    offered_per_s: float | None = None  # open loop: sends/s between the first and last send
    served_per_s: float | None = None  # open loop: replies/s between the first and last reply
    sent: int
    completed: int
    failed: int
    errors: dict[str, int] = Field(default_factory=dict)
    in_flight_max: int  # most requests of the step in flight at one send
    elapsed_s: float | None  # step start → last reply
    throughput_per_s: float | None  # completed requests / elapsed_s
    output_tokens_per_s: float | None  # Σ eval_count of completed requests / elapsed_s
    goodput_per_s: float | None = None  # completed within the latency SLO / elapsed_s
    slo_met: float | None = None  # share of sent requests that completed within the SLO
    valid_rate: float | None = None  # valid replies / completed requests
    latency_s: Percentiles
    ttft_s: Percentiles
    queue_s: Percentiles  # latency − server work (see queueing_ns)
    queue_growth: float | None = None  # slope of queueing over send time, s per s
    lag_s: Percentiles | None = None  # open loop: actual − scheduled send time
    itl: ItlSummary | None = None
    energy: EnergySummary | None = None

    @property
    def level(self) -> float:
        """The load offered: its concurrency, or the requests/s asked for."""
        return float((self.concurrency if self.mode == "concurrency" else self.rate_per_s) or 0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def served_share(self) -> float | None:
        """Open loop: served / offered rate; below KEEP_UP_SHARE the server fell behind."""
        if self.served_per_s is None or not self.offered_per_s:
            return None
        return self.served_per_s / self.offered_per_s


class Knee(BaseModel):
    """Where a target stopped scaling in one mode of the sweep."""

    mode: str
    step: int | None  # the knee's step; None when not found
    label: str | None = None
    level: float | None = None  # its concurrency or requests/s
    throughput_per_s: float | None = None
    reason: str


class LoadTargetSummary(BaseModel):
    name: str
    url: str
    api: Api = "ollama"
    server: str | None = None  # OpenAI-compatible: "llama.cpp", "vLLM", "Ollama" or unknown
    version: str | None = None
    usable: bool = True
    error: str | None = None
    steps: list[StepSummary]
    knees: list[Knee]
    placement: Placement | None = None  # /api/ps after its warm-up, else at its end or probe


class LoadSummary(BaseModel):
    run_file: str
    scenario: str
    model: str
    structured: bool
    interrupted: bool = False
    order: str = ORDER  # targets are loaded one after another, never together
    slo_latency_s: float | None = None
    targets: list[LoadTargetSummary]
    energy_note: str | None = None  # why energy is not measurable here; None when it is
    warnings: list[Warning]


def closed_loop_knee(
    levels: Sequence[float], throughputs: Sequence[float]
) -> tuple[int | None, str]:
    """Index of the knee among closed-loop steps sorted by concurrency, and why, in words.

    Going from step i−1 to step i multiplies the concurrency by Lᵢ/Lᵢ₋₁; the step's efficiency
    is the throughput gain over that load gain, (Xᵢ/Xᵢ₋₁ − 1) / (Lᵢ/Lᵢ₋₁ − 1): 1 when
    throughput rose in proportion (free slots took the extra requests), 0 when it stayed flat
    (they only queued). The knee is the step before the first one whose efficiency is below
    KNEE_EFFICIENCY: past it, more requests in flight buy less than half their share of
    throughput and mostly add latency. It assumes no model of the server.

    >>> closed_loop_knee([1, 2, 4, 8], [10, 20, 39, 40])[0]
    2
    >>> closed_loop_knee([1, 2, 4], [10, 10.2, 10.1])
    (0, 'c=2 offered 100% more load for +2% throughput')
    >>> closed_loop_knee([1, 2], [10, 19])
    (None, 'knee not reached: throughput still rose in proportion up to c=2')
    """
    if len(levels) < 2:
        return None, "no knee: it needs two or more concurrency levels"
    for i in range(1, len(levels)):
        load_gain = levels[i] / levels[i - 1] - 1
        if load_gain <= 0 or throughputs[i - 1] <= 0:
            continue
        gain = throughputs[i] / throughputs[i - 1] - 1
        gain = gain if abs(gain) >= 0.005 else 0.0  # no "-0%"
        if gain / load_gain < KNEE_EFFICIENCY:
            return (
                i - 1,
                f"c={levels[i]:g} offered {load_gain:.0%} more load for {gain:+.0%} throughput",
            )
    return None, f"knee not reached: throughput still rose in proportion up to c={levels[-1]:g}"


def open_loop_knee(
    rates: Sequence[float], served_shares: Sequence[float | None]
) -> tuple[int | None, str]:
    """Index of the highest rate (sorted) before the first one the server did not keep up with.

    Open loop, a server keeps up when it finishes requests as fast as they arrive: its served
    rate (replies/s between the first and the last reply) is at least KEEP_UP_SHARE of the
    offered rate (requests/s between the first and the last send). Above its capacity the
    served rate stays at the capacity while the offered rate rises, and the queue grows.

    >>> open_loop_knee([1, 2, 4], [1.0, 0.97, 0.6])
    (1, '4 req/s was served at 60% of its rate')
    >>> open_loop_knee([1, 2], [0.5, 0.3])
    (None, 'knee below 1 req/s: even that was served at 50% of its rate')
    """
    for i, share in enumerate(served_shares):
        if share is not None and share < KEEP_UP_SHARE:
            if i == 0:
                lowest = f"{rates[0]:g} req/s"
                return None, f"knee below {lowest}: even that was served at {share:.0%} of its rate"
            return i - 1, f"{rates[i]:g} req/s was served at {share:.0%} of its rate"
    return None, f"knee not reached: every rate up to {rates[-1]:g} req/s was kept up with"


def _knees(steps: Sequence[StepSummary]) -> list[Knee]:
    knees = []
    closed = sorted(
        (s for s in steps if s.mode == "concurrency" and s.throughput_per_s is not None),
        key=lambda s: s.level,
    )
    if closed:
        levels = [s.level for s in closed]
        index, reason = closed_loop_knee(levels, [s.throughput_per_s or 0.0 for s in closed])
        knees.append(_knee("concurrency", closed, index, reason))
    opened = sorted((s for s in steps if s.mode == "rate"), key=lambda s: s.level)
    if opened:
        index, reason = open_loop_knee([s.level for s in opened], [s.served_share for s in opened])
        knees.append(_knee("rate", opened, index, reason))
    return knees


def _knee(mode: str, steps: Sequence[StepSummary], index: int | None, reason: str) -> Knee:
    if index is None:
        return Knee(mode=mode, step=None, reason=reason)
    knee = steps[index]
    return Knee(
        mode=mode,
        step=knee.step,
        label=knee.label,
        level=knee.level,
        throughput_per_s=knee.throughput_per_s,
        reason=reason,
    )


def _rate(times_ns: Sequence[int]) -> float | None:
    """Events per second between the first and the last event; None below two or no span."""
    span_s = (max(times_ns) - min(times_ns)) / NS_PER_S if len(times_ns) > 1 else 0.0
    return (len(times_ns) - 1) / span_s if span_s > 0 else None


def _seconds(values_ns: Sequence[int | None]) -> list[float]:
    return [v / NS_PER_S for v in values_ns if v is not None]


def summarise_step(
    spec: StepSpec,
    samples: Sequence[LoadSample],
    slo_latency_s: float | None,
    utilisation: Sequence[UtilisationSample],
) -> StepSummary:
    done = [s for s in samples if s.ok]
    timings = [s.timing for s in done]
    elapsed_s = max(s.done_ns for s in samples) / NS_PER_S if samples else None
    per_s = (lambda count: count / elapsed_s) if elapsed_s else (lambda count: None)
    tokens = [
        t.server.eval_count
        for t in timings
        if t.server and t.server.eval_count is not None and not t.suspicious
    ]
    queued = [
        (s.sent_ns / NS_PER_S, q / NS_PER_S)
        for s in done
        if (q := queueing_ns(s.timing)) is not None
    ]
    validated = [s.validation for s in done if s.validation is not None]
    summary = StepSummary(
        step=spec.index,
        mode=spec.mode,
        label=spec.label,
        concurrency=spec.concurrency,
        rate_per_s=spec.rate_per_s,
        sent=len(samples),
        completed=len(done),
        failed=len(samples) - len(done),
        errors=dict(Counter(s.error.kind for s in samples if s.error)),
        in_flight_max=max((s.in_flight for s in samples), default=0),
        elapsed_s=elapsed_s,
        throughput_per_s=per_s(len(done)),
        output_tokens_per_s=per_s(sum(tokens)) if tokens else None,
        valid_rate=sum(v.valid for v in validated) / len(validated) if validated else None,
        latency_s=Percentiles.of(_seconds([t.latency_ns for t in timings])),
        ttft_s=Percentiles.of(_seconds([t.ttft_ns for t in timings])),
        queue_s=Percentiles.of([q for _, q in queued]),
        queue_growth=slope([t for t, _ in queued], [q for _, q in queued]),
        itl=summarise_itl(timings),
    )
    if slo_latency_s is not None and samples:
        met = [t for t in timings if t.latency_ns / NS_PER_S <= slo_latency_s]
        summary.goodput_per_s = per_s(len(met))
        summary.slo_met = len(met) / len(samples)
    if spec.mode == "rate":
        summary.offered_per_s = _rate([s.sent_ns for s in samples])
        summary.served_per_s = _rate([s.done_ns for s in done])
        summary.lag_s = Percentiles.of(_seconds([s.lag_ns for s in samples]))
    if samples and elapsed_s is not None:
        start = min(s.started_at.timestamp() - s.sent_ns / NS_PER_S for s in samples)
        summary.energy = summarise_energy(
            [(start, start + elapsed_s)], len(done), sum(tokens) if tokens else None, utilisation
        )
    return summary


def summarise_load(
    header: LoadHeader,
    samples: Sequence[LoadSample],
    run_file: str,
    *,
    interrupted: bool = False,
    utilisation: Sequence[UtilisationSample] = (),
    placements: Sequence[PlacementReading] = (),
) -> LoadSummary:
    targets = []
    for info in header.targets:
        mine = [s for s in samples if s.target == info.name and s.phase == "measured"]
        steps = [
            summarise_step(
                spec, [s for s in mine if s.step == spec.index], header.slo_latency_s, utilisation
            )
            for spec in header.steps
            if any(s.step == spec.index for s in mine)
        ]
        targets.append(
            LoadTargetSummary(
                name=info.name,
                url=info.url,
                api=info.api,
                server=info.server,
                version=info.version,
                usable=info.usable,
                error=info.error,
                steps=steps,
                knees=_knees(steps),
                placement=chosen_placement(info.name, placements, info.placement),
            )
        )
    return LoadSummary(
        run_file=run_file,
        scenario=header.scenario,
        model=header.settings.model,
        structured=header.settings.structured,
        interrupted=interrupted,
        order=header.order,
        slo_latency_s=header.slo_latency_s,
        targets=targets,
        energy_note=energy_note(header.monitoring),
        warnings=_warnings(header, targets, samples),
    )


def _warnings(
    header: LoadHeader, targets: Sequence[LoadTargetSummary], samples: Sequence[LoadSample]
) -> list[Warning]:
    found = probe_warnings(header.targets)
    for target in targets:
        name = target.name
        few = [s.label for s in target.steps if 0 < s.latency_s.n < MIN_N_FOR_P99]
        if few:
            found.append(
                Warning(
                    target=name,
                    code="few-samples",
                    message=f"p99 of {name} rests on fewer than {MIN_N_FOR_P99} requests "
                    f"at {', '.join(few)}, so it is close to the maximum",
                    hint=f"use --requests {MIN_N_FOR_P99} or more for a meaningful p99",
                )
            )
        for step in target.steps:
            if step.failed:
                kinds = ", ".join(f"{k} ×{c}" for k, c in sorted(step.errors.items()))
                found.append(
                    Warning(
                        target=name,
                        code="failures",
                        message=f"{step.failed} of {step.sent} requests on {name} at "
                        f"{step.label} failed ({kinds})",
                        hint="each error is in the run file; failed requests are not timed",
                    )
                )
            if step.lag_s is not None and (step.lag_s.p99 or 0) > LAG_WARN_S:
                found.append(
                    Warning(
                        target=name,
                        code="client-lag",
                        message=f"obench sent requests late at {step.label} on {name} (lag p99 "
                        f"{(step.lag_s.p99 or 0) * 1000:.0f} ms): the client, not the server, "
                        "fell behind the schedule, so the load offered was lower than asked",
                        hint="lower the rate, or run obench on a less busy machine",
                    )
                )
        cold = [s for s in samples if s.target == name and s.phase == "measured" and s.timing.cold]
        if cold:
            found.append(
                Warning(
                    target=name,
                    code="cold-measured",
                    message=f"{len(cold)} measured request(s) on {name} paid a model load",
                    hint="raise --warmup; keep keep_alive and runner options fixed",
                )
            )
    return found


def load_problem(summary: LoadSummary) -> str | None:
    """Why this sweep does not stand as a result (exit 4), naming each target at fault: one that
    was unusable or had no successful measured request; None when every target had one."""
    problems = []
    for target in summary.targets:
        sent = sum(s.sent for s in target.steps)
        if not target.usable:
            problems.append(f"{target.name} had no successful measured request (unusable)")
        elif not any(s.completed for s in target.steps):
            problems.append(f"{target.name} had no successful measured request ({sent} sent)")
    return "; ".join(problems) or None
