"""The HTML report's figures of a load run: throughput, latency, queueing, goodput and
served/offered against the load of each step, per target, with each target's knee ringed.

Closed-loop steps are drawn against their concurrency and open-loop steps against the mean rate
asked of their Poisson schedule, side by side when a run has both. Every figure draws the
LoadSummary (load/summary.py computes each value); names pass through `mpl_text` as in every
figure (figures.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, PercentFormatter

from ollama_bench.load.summary import (
    KEEP_UP_SHARE,
    KNEE_EFFICIENCY,
    MIN_N_FOR_P99,
    LoadSummary,
    LoadTargetSummary,
    Percentiles,
    StepSummary,
)
from ollama_bench.runfiles import LoadReport
from ollama_bench.views.figures import WIDTH_IN, Chart, inert, seconds_axis, to_uri
from ollama_bench.views.tables import fmt_rate, fmt_seconds

Value = Callable[[StepSummary], float | None]


@dataclass(frozen=True)
class Mode:
    """One half of a sweep: the steps of one kind and the axis they are drawn against."""

    name: str  # StepSummary.mode
    title: str
    axis: str


CLOSED = Mode("concurrency", "closed loop", "concurrency (requests in flight)")
OPEN = Mode("rate", "open loop", "arrival rate asked (requests/s, Poisson)")


def _steps(target: LoadTargetSummary, mode: Mode) -> list[StepSummary]:
    return sorted((s for s in target.steps if s.mode == mode.name), key=lambda s: s.level)


def _modes(summary: LoadSummary) -> list[Mode]:
    return [m for m in (CLOSED, OPEN) if any(_steps(t, m) for t in summary.targets)]


def _drawn(summary: LoadSummary) -> list[LoadTargetSummary]:
    return [t for t in summary.targets if any(s.completed for s in t.steps)]


def _level_axis(ax: Axes, levels: Sequence[float], mode: Mode) -> None:
    """The levels tried as ticks; a log scale (base 2 for concurrency) when they span over 4×."""
    shown = sorted({v for v in levels if v > 0})
    if shown and shown[-1] / shown[0] > 4:
        ax.set_xscale("log", base=2 if mode is CLOSED else 10)
        pad = (shown[-1] / shown[0]) ** 0.06
    else:
        pad = 1.0
    if shown:
        if pad > 1:
            ax.set_xlim(shown[0] / pad, shown[-1] * pad)
        else:
            margin = (shown[-1] - shown[0]) * 0.06 or shown[0] * 0.2
            ax.set_xlim(shown[0] - margin, shown[-1] + margin)
    ax.xaxis.set_major_locator(FixedLocator(shown))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.set_xlabel(mode.axis)
    ax.grid(alpha=0.3)


def _grid(
    rows: int, modes: Sequence[Mode], row_height_in: float = 2.9
) -> tuple[Figure, list[list[Axes]]]:
    figure = Figure(figsize=(WIDTH_IN, 0.9 + row_height_in * rows), layout="constrained")
    axes = figure.subplots(rows, len(modes), squeeze=False)
    return figure, [list(row) for row in axes]


def _values(steps: Sequence[StepSummary], value: Value) -> list[float]:
    return [math.nan if (v := value(s)) is None else v for s in steps]


def _line(
    ax: Axes, target: int, steps: Sequence[StepSummary], value: Value, **style: Any
) -> list[float]:
    ys = _values(steps, value)
    ax.plot([s.level for s in steps], ys, color=f"C{target}", marker="o", **style)
    return [y for y in ys if not math.isnan(y)]


def _ring_knee(
    ax: Axes, k: int, t: LoadTargetSummary, mode: Mode, value: Value, label: bool = True
) -> bool:
    """Ring the target's knee in this mode at its value; False when it has none."""
    knee = next((n for n in t.knees if n.mode == mode.name and n.step is not None), None)
    at = next((s for s in t.steps if knee and s.step == knee.step), None)
    y = value(at) if at is not None else None
    if at is None or y is None:
        return False
    x = at.level
    ax.scatter([x], [y], s=260, facecolors="none", edgecolors=f"C{k}", linewidths=2.2, zorder=5)
    if label:
        ax.annotate(
            "knee",
            (x, y),
            xytext=(0, 13),
            textcoords="offset points",
            ha="center",
            fontsize="small",
            color=f"C{k}",
        )
    return True


def _legend(figure: Figure, targets: Sequence[LoadTargetSummary], extra: list[Line2D]) -> None:
    handles = [
        Line2D([], [], color=f"C{k}", marker="o", label=t.name) for k, t in enumerate(targets)
    ]
    figure.legend(
        handles=handles + extra,
        loc="outside lower center",
        ncols=min(len(handles) + len(extra), 5),
        fontsize="small",
    )


def _ring_handle() -> Line2D:
    return Line2D(
        [],
        [],
        marker="o",
        linestyle="none",
        markersize=13,
        markerfacecolor="none",
        markeredgecolor="black",
        markeredgewidth=1.8,
        label="knee",
    )


def _dashed(label: str) -> Line2D:
    return Line2D([], [], color="black", linestyle="--", label=label)


def _title(ax: Axes, mode: Mode, what: str, modes: Sequence[Mode]) -> None:
    ax.set_title(f"{what}, {mode.title}" if len(modes) > 1 else what, fontsize="medium")


def _knees_found(summary: LoadSummary) -> str:
    """`one at c=1 (3.6 req/s) and at 4 req/s; four at c=4 (13.0 req/s), none open loop (…)`."""
    found = []
    for t in summary.targets:
        said = []
        for knee in t.knees:
            if knee.step is None:
                loop = "closed" if knee.mode == "concurrency" else "open"
                said.append(f"none in the {loop} loop ({knee.reason})")
            elif knee.mode == "concurrency":
                said.append(f"at {knee.label} ({fmt_rate(knee.throughput_per_s)} req/s)")
            else:
                said.append(f"at {knee.label}")
        if said:
            found.append(f"{t.name} {' and '.join(said)}")
    return "; ".join(found) or "none found"


def _against(modes: Sequence[Mode]) -> str:
    """How the steps are placed along x, in words."""
    closed = "against the concurrency of each closed-loop step (requests kept in flight)"
    opened = "against the mean arrival rate asked of each open-loop step's seeded Poisson schedule"
    return " and ".join(closed if m is CLOSED else opened for m in modes)


def _knee_rule(modes: Sequence[Mode]) -> str:
    """How the knee is found, for the modes drawn (load/summary.py)."""
    rules = {
        CLOSED.name: "closed loop, the last step before the first whose throughput gain is under "
        f"{KNEE_EFFICIENCY:.0%} of its load gain, (Xᵢ/Xᵢ₋₁ − 1)/(Lᵢ/Lᵢ₋₁ − 1)",
        OPEN.name: "open loop, the highest rate before the first one served at under "
        f"{KEEP_UP_SHARE:.0%} of its rate",
    }
    return "; ".join(rules[m.name] for m in modes)


def throughput_chart(report: LoadReport) -> Chart | None:
    summary = inert(report.summary)
    targets, modes = _drawn(summary), _modes(summary)
    if not targets or not modes:
        return None
    figure, axes = _grid(2, modes)
    ideal = False
    panels: list[tuple[str, Value]] = [
        ("requests/s completed", lambda s: s.throughput_per_s),
        ("output tokens/s", lambda s: s.output_tokens_per_s),
    ]
    for row, (what, value) in enumerate(panels):
        for col, mode in enumerate(modes):
            ax = axes[row][col]
            top = 0.0
            levels: list[float] = []
            for k, t in enumerate(targets):
                steps = _steps(t, mode)
                levels += [s.level for s in steps]
                top = max([top, *_line(ax, k, steps, value)])
                _ring_knee(ax, k, t, mode, value, label=row == 0)
                first = next((s for s in steps if value(s)), None)
                if mode is CLOSED and first is not None and len(steps) > 1:
                    # what more requests in flight would buy with a free slot for each
                    base, y0 = first.level, value(first) or 0.0
                    xs = [s.level for s in steps if s.level >= base]
                    ax.plot(
                        xs, [y0 * x / base for x in xs], color=f"C{k}", linestyle=":", alpha=0.6
                    )
                    ideal = True
            _level_axis(ax, levels, mode)
            ax.set_ylim(0, top * 1.25 or 1)
            ax.set_ylabel(what)
            _title(ax, mode, what, modes)
    extra = [_ring_handle()]
    if ideal:
        extra.append(
            Line2D([], [], color="grey", linestyle=":", label="in proportion to concurrency")
        )
    _legend(figure, targets, extra)
    raw = report.summary
    return Chart(
        "load-throughput",
        "Throughput against load, per target",
        "Per target and step, the requests completed per second (top) and the output tokens per "
        f"second (bottom), {_against(modes)}. Throughput is the step's completed requests over "
        "its time, from the step's start to its last reply; output tokens/s is the server's "
        "eval_count of those requests, summed, over the same time (what the server delivers in "
        "all, not one request's decode speed). "
        + (
            "The dotted line continues the lowest concurrency's throughput in proportion to "
            "concurrency: what more requests in flight would buy if each found a free slot. "
            if ideal
            else ""
        )
        + f"The ring marks the knee, where the target saturates: {_knee_rule(modes)}. "
        f"Knees: {_knees_found(raw)}.",
        to_uri(figure),
    )


def _percentile(metric: Callable[[StepSummary], Percentiles | None], key: str) -> Value:
    def value(step: StepSummary) -> float | None:
        found = metric(step)
        return None if found is None else getattr(found, key)

    return value


def _percentile_chart(
    summary: LoadSummary,
    rows: Sequence[tuple[str, Callable[[StepSummary], Percentiles | None]]],
) -> tuple[Figure, str] | None:
    """p50 (solid) and p99 (dashed) of each row's metric, per target, against the load."""
    targets, modes = _drawn(summary), _modes(summary)
    if not targets or not modes:
        return None
    figure, axes = _grid(len(rows), modes)
    scales = []
    for row, (what, metric) in enumerate(rows):
        for col, mode in enumerate(modes):
            ax = axes[row][col]
            values: list[float] = []
            levels: list[float] = []
            for k, t in enumerate(targets):
                steps = _steps(t, mode)
                levels += [s.level for s in steps]
                for key, dash in (("p50", "-"), ("p99", "--")):
                    values += _line(
                        ax,
                        k,
                        steps,
                        _percentile(metric, key),
                        linestyle=dash,
                        markersize=4 if dash == "--" else 6,
                    )
            _level_axis(ax, levels, mode)
            scale = seconds_axis(ax, values, sparse=True)
            scales.append(scale)
            ax.set_ylabel(f"{what} ({scale})")
            _title(ax, mode, what, modes)
    _legend(
        figure,
        targets,
        [Line2D([], [], color="black", label="p50"), _dashed("p99")],
    )
    scale = "log scale" if "log scale" in scales else "linear scale"
    return figure, scale


def latency_chart(report: LoadReport) -> Chart | None:
    drawn = _percentile_chart(
        inert(report.summary),
        [("latency", lambda s: s.latency_s), ("time to first token", lambda s: s.ttft_s)],
    )
    if drawn is None:
        return None
    figure, scale = drawn
    return Chart(
        "load-latency",
        "Latency and time to first token against load, per target",
        "Per target and step, the median (p50, solid) and the 99th percentile (p99, dashed) of "
        "latency (top: the client's clock from sending a request to the reply's last chunk) and "
        "of time to first token (bottom: to the first chunk with content), over the step's "
        f"completed requests, {_against(_modes(report.summary))}. Percentiles "
        f"interpolate linearly between requests (type 7); under {MIN_N_FOR_P99} requests in a "
        "step the p99 is close to that step's slowest request. A server whose slots are all "
        "busy makes each extra request wait for one, so past the knee latency grows with the "
        f"load while throughput does not; {scale} where the values span more than 5×.",
        to_uri(figure),
    )


def queue_chart(report: LoadReport) -> Chart | None:
    summary = inert(report.summary)
    if not any(s.queue_s.n for t in summary.targets for s in t.steps):
        return None
    drawn = _percentile_chart(summary, [("queueing", lambda s: s.queue_s)])
    if drawn is None:
        return None
    figure, scale = drawn
    return Chart(
        "load-queue",
        "Queueing against load, per target",
        "Queueing is each completed request's client latency minus the server's own work on it "
        "(load_duration + prompt_eval_duration + eval_duration): the time it spent waiting for a "
        "slot, in transit or being parsed, rather than being served. Ollama counts the wait for "
        "a free slot inside total_duration, so latency − total_duration would miss it; this "
        "does not. Per target and step, its p50 (solid) and p99 (dashed), "
        f"{_against(_modes(report.summary))}. It stays near the "
        "network's few milliseconds while a slot is free and climbs once requests queue; the "
        "tables' queue growth is its least-squares slope against send time. Requests whose "
        "server timings cannot be true, and servers that report no durations, are left out; "
        f"{scale} where the values span more than 5×.",
        to_uri(figure),
    )


def goodput_chart(report: LoadReport) -> Chart | None:
    summary = inert(report.summary)
    slo = summary.slo_latency_s
    targets, modes = _drawn(summary), _modes(summary)
    if slo is None or not targets or not modes:
        return None
    figure, axes = _grid(1, modes, row_height_in=3.2)
    for col, mode in enumerate(modes):
        ax = axes[0][col]
        top = 0.0
        levels: list[float] = []
        for k, t in enumerate(targets):
            steps = _steps(t, mode)
            levels += [s.level for s in steps]
            good = _line(ax, k, steps, lambda s: s.goodput_per_s)
            done = _line(ax, k, steps, lambda s: s.throughput_per_s, linestyle=":", alpha=0.55)
            top = max([top, *good, *done])
        _level_axis(ax, levels, mode)
        ax.set_ylim(0, top * 1.2 or 1)
        ax.set_ylabel(f"requests/s within {fmt_seconds(slo)}")
        _title(ax, mode, "goodput", modes)
    _legend(
        figure,
        targets,
        [
            Line2D([], [], color="black", label=f"goodput (latency ≤ {fmt_seconds(slo)})"),
            Line2D([], [], color="black", linestyle=":", alpha=0.55, label="all completed"),
        ],
    )
    return Chart(
        "load-goodput",
        f"Goodput under the {fmt_seconds(slo)} latency objective, per target",
        f"With --slo-latency {slo:g} s: per target and step, the requests that completed within "
        f"{fmt_seconds(slo)} of being sent, per second of the step's time (its start to its "
        "last reply), which is vLLM's goodput with a single end-to-end latency objective "
        f"(solid), {_against(_modes(report.summary))}. The "
        "dotted line is the step's throughput, every completed request per second; the gap "
        "between the two is the requests that completed too late to count. Past the knee, more "
        "load usually lowers goodput: the extra requests only queue and push others past the "
        "objective.",
        to_uri(figure),
    )


def served_chart(report: LoadReport) -> Chart | None:
    summary = inert(report.summary)
    targets = [t for t in _drawn(summary) if _steps(t, OPEN)]
    if not targets:
        return None
    figure, axes = _grid(1, [OPEN], row_height_in=3.0)
    ax = axes[0][0]
    levels: list[float] = []
    top = 100.0

    def share(s: StepSummary) -> float | None:
        return None if s.served_share is None else s.served_share * 100

    for k, t in enumerate(targets):
        steps = _steps(t, OPEN)
        levels += [s.level for s in steps]
        top = max([top, *_line(ax, k, steps, share)])
        _ring_knee(ax, k, t, OPEN, share)
    ax.axhline(KEEP_UP_SHARE * 100, color="grey", linestyle="--", linewidth=1)
    _level_axis(ax, levels, OPEN)
    ax.set_ylim(0, top * 1.12)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_ylabel("served rate / offered rate")
    _legend(figure, targets, [_ring_handle(), _dashed(f"{KEEP_UP_SHARE:.0%}: kept up")])
    return Chart(
        "load-served",
        "Served against offered rate, open loop",
        "Open-loop steps only: per target, the rate at which replies came back (replies per "
        "second between the first and the last reply) over the rate at which requests were sent "
        "(sends per second between the first and the last send), against the mean rate asked. "
        "Near 100% the server kept up with the arrivals; under the dashed "
        f"{KEEP_UP_SHARE:.0%} line it fell behind, and each request waited for all that arrived "
        "before it and were not yet done. The ring marks the knee: the highest rate before the "
        f"first one served at under {KEEP_UP_SHARE:.0%}.",
        to_uri(figure),
    )


def load_charts(report: LoadReport) -> list[Chart]:
    """Every figure of a load run's section, in reading order."""
    drawn = [
        throughput_chart(report),
        latency_chart(report),
        queue_chart(report),
        goodput_chart(report),
        served_chart(report),
    ]
    return [c for c in drawn if c is not None]
