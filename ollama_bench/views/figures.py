"""The report's figures: matplotlib (object API, no pyplot state) drawn to SVG, each with a caption
that says what it shows and how it was computed.

Every figure is returned as a `data:image/svg+xml;base64` URI for an `<img>`: the page stays one
file, and an SVG shown through `<img>` can neither run a script nor load anything, whatever text
it holds. Text from servers and run files is made inert for matplotlib too: control characters
shown as escapes and `$` escaped, so that a name cannot switch on mathtext (or break the figure).
Figures draw summaries and records; the figures themselves are computed in vision/detail.py,
vision/summary.py and cnn/*summary.py.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ollama_bench.cnn import plots as cnn_plots
from ollama_bench.runfiles import InferReport, ParallelReport, Report, TrainReport, VisionReport
from ollama_bench.untrusted import clip, sanitised, visible
from ollama_bench.views.tables import METRIC_LABELS
from ollama_bench.vision.quality import Change
from ollama_bench.vision.summary import Comparison, MetricComparison

T = TypeVar("T")

#: Colours of the parts of a request's time, the same in every figure.
PART_COLOURS = {
    "model load": "#8c8c8c",
    "prompt evaluation": "#4c72b0",
    "decode": "#55a868",
    "unattributed": "#c44e52",
}
WIDTH_IN = 10.0  # figures are drawn this wide and shown at the page's width


@dataclass(frozen=True)
class Chart:
    """One figure of the report: its image and what it shows."""

    key: str  # unique within a report section, for the page's anchors
    title: str
    caption: str
    uri: str  # data:image/svg+xml;base64,…


def mpl_text(text: str) -> str:
    r"""Untrusted text as matplotlib shows it literally, at most 40 characters.

    >>> mpl_text("a $x$ \x1b")
    'a \\$x\\$ \\x1b'
    """
    label = clip(visible(text), 40).replace("$", r"\$")
    return " " + label if label.startswith("_") else label  # "_x" would hide a legend entry


def inert(value: T) -> T:
    """`value` with every string in it made literal for matplotlib (see mpl_text)."""
    return sanitised(value, mpl_text)


def to_uri(figure: Figure) -> str:
    """The figure as an SVG data URI; the same figure gives the same bytes (no date, fixed ids)."""
    FigureCanvasSVG(figure)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "obench", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(height_in: float, columns: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, list(axes)


def seconds_axis(
    ax: Axes, values: Sequence[float], axis: str = "y", *, sparse: bool = False
) -> str:
    """Log scale when the values span more than 5×; returns the scale's name for the label.
    Ticks read as durations (`20 ms`, `1.5 s`), and on a log scale only 1, 2 and 5 × 10ᵏ are
    labelled when the values span more than a decade, or always when `sparse` (short panels)."""
    positive = [v for v in values if v > 0]
    log = bool(positive) and max(positive) / min(positive) > 5
    target = ax.yaxis if axis == "y" else ax.xaxis
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        crowded = sparse or max(positive) / min(positive) > 15

        def label(value: float, _position: float) -> str:
            leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
            return _fmt_s(value) if not crowded or leading in (1, 2, 5) else ""

        target.set_major_formatter(FuncFormatter(label))
        target.set_minor_formatter(FuncFormatter(label))
    else:
        target.set_major_formatter(FuncFormatter(lambda v, _p: _fmt_s(v)))
    return "log scale" if log else "linear scale"


def _fmt_s(value: float) -> str:
    if value <= 0:
        return "0"
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def _ticks(ax: Axes, names: Sequence[str]) -> None:
    """Category labels along x, turned when there are many or long ones; some skipped beyond 40."""
    step = max(1, math.ceil(len(names) / 40))
    shown = [clip(n, 24) if i % step == 0 else "" for i, n in enumerate(names)]
    turn = len(names) > 6 or max((len(n) for n in shown), default=0) > 12
    ax.set_xticks(
        range(len(names)), shown, rotation=30 if turn else 0, ha="right" if turn else "center"
    )


# -- vision ------------------------------------------------------------------------------------


def latency_by_image(report: VisionReport) -> Chart | None:
    detail = inert(report.detail)
    targets = [t for t in detail.targets if t.images]
    if not targets:
        return None
    names = [mpl_text(i.name) for i in report.run.header.images]
    present = [n for n in names if any(i.image == n for t in targets for i in t.images)]
    figure, (ax,) = _figure(4.6)
    width = 0.8 / len(targets)
    values: list[float] = []
    for k, target in enumerate(targets):
        colour = f"C{k}"
        by_image = {i.image: i for i in target.images}
        for x, name in enumerate(present):
            found = by_image.get(name)
            if found is None:
                continue
            centre = x + (k - (len(targets) - 1) / 2) * width
            n = len(found.latencies_s)
            spread = [centre + width * 0.6 * ((j + 0.5) / n - 0.5) for j in range(n)]
            ax.scatter(spread, found.latencies_s, s=14, color=colour, alpha=0.65, linewidths=0)
            ax.hlines(
                found.median_s,
                centre - width * 0.42,
                centre + width * 0.42,
                colors=colour,
                linewidth=2.5,
            )
            values += found.latencies_s
        ax.scatter([], [], s=30, color=colour, label=f"{target.name}: each request; bar: median")
    scale = seconds_axis(ax, values)
    _ticks(ax, present)
    ax.set_xlim(-0.6, len(present) - 0.4)
    ax.set_ylabel(f"latency per request ({scale})")
    ax.set_xlabel("image")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    counts = ", ".join(f"{t.name} {sum(len(i.latencies_s) for i in t.images)}" for t in targets)
    return Chart(
        "latency",
        "Latency per target and image",
        "Every measured request that completed, one dot each (spread sideways within its slot "
        "so that none hides another), per image and target; the bar marks that image's median. "
        "Latency is the client's clock from sending the request to the reply's final chunk. "
        f"Requests drawn: {counts}. Warm-up requests and failed requests are not drawn "
        f"(failed ones are not timed: see the table of failed and invalid requests); {scale}.",
        to_uri(figure),
    )


def time_split(report: VisionReport) -> Chart | None:
    detail = inert(report.detail)
    rows = [t for t in detail.targets if t.split is not None]
    if not rows:
        return None
    figure, (absolute, share) = _figure(1.4 + 0.55 * len(rows), columns=2)
    notes = []
    for y, target in enumerate(rows):
        split = target.split
        assert split is not None
        parts = {
            "model load": split.load_s,
            "prompt evaluation": split.prompt_s,
            "decode": split.decode_s,
            "unattributed": split.unattributed_s,
        }
        missing = [name for name, value in parts.items() if value is None]
        if missing:
            notes.append(f"{target.name}: {', '.join(missing)} not reported by this server")
        left = 0.0
        for name, value in parts.items():
            v = value or 0.0
            absolute.barh(y, v, left=left, color=PART_COLOURS[name], label=name if y == 0 else None)
            share.barh(
                y,
                v / split.latency_s * 100,
                left=left / split.latency_s * 100,
                color=PART_COLOURS[name],
            )
            left += v
        absolute.annotate(
            f" {_fmt_s(split.latency_s)} (n={split.n})", (left, y), va="center", fontsize="small"
        )
    labels = [t.name for t in rows]
    for ax in (absolute, share):
        ax.set_yticks(range(len(rows)), labels)
        ax.invert_yaxis()
    absolute.set_xlabel("mean time per request (s)")
    absolute.margins(x=0.25)
    absolute.set_title("seconds", fontsize="medium")
    share.set_xlim(0, 100)
    share.xaxis.set_major_formatter(PercentFormatter())
    share.set_xlabel("share of the mean latency")
    share.set_title("shares", fontsize="medium")
    figure.legend(loc="outside lower center", ncols=4, fontsize="small")
    unreported = (
        (" " + "; ".join(notes) + ": those parts are in the unattributed time.") if notes else ""
    )
    return Chart(
        "time",
        "Where the time goes",
        "Per target, the mean over completed measured requests of the server's own load_duration "
        "(model load), prompt_eval_duration (prompt and image evaluation) and eval_duration "
        "(decode), and the rest of the client's latency: network, HTTP, queueing and whatever the "
        "server did not account for. Means, not medians, so that the parts add up to the mean "
        "latency (shown at the end of each bar). Requests whose server timings cannot be true "
        f"are left out.{unreported}",
        to_uri(figure),
    )


def _ratio_axis(ax: Axes, lows: Sequence[float], highs: Sequence[float]) -> None:
    """x limits around the data (1 included only when near it, so that a 5× ± 2% stays
    readable); log scale when the data span more than 3×."""
    low, high = min(lows), max(highs)
    if low <= 1.25 and high >= 0.8:
        low, high = min(low, 1.0), max(high, 1.0)
    if high / low > 3:
        ax.set_xscale("log")
        pad = (high / low) ** 0.06
        ax.set_xlim(low / pad, high * pad)
    else:
        pad = (high - low) * 0.08 or high * 0.02
        ax.set_xlim(low - pad, high + pad)
        ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.3g}×"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
    if ax.get_xlim()[0] <= 1 <= ax.get_xlim()[1]:
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)


def forest(comparison: Comparison, order: Sequence[str], index: int = 0) -> Chart | None:
    """A target's speed-ups over the baseline of its run."""
    return forest_chart(
        comparison.metrics,
        order,
        target=comparison.target,
        baseline=comparison.baseline,
        key=f"forest-{index}",
        title=f"Speed-up of {comparison.target} over {comparison.baseline}, per image and overall",
    )


def forest_chart(
    metrics_by_name: Mapping[str, MetricComparison | None],
    order: Sequence[str],
    *,
    target: str,
    baseline: str,
    key: str,
    title: str,
) -> Chart | None:
    """A forest plot per metric: each image's ratio with its interval, and the headline."""
    metrics = [(m, inert(metrics_by_name[m])) for m in METRIC_LABELS if metrics_by_name.get(m)]
    if not metrics:
        return None
    shown_target, shown_baseline = mpl_text(target), mpl_text(baseline)
    images = [mpl_text(i) for i in order]
    shown = [i for i in images if any(r.image == i for _, m in metrics if m for r in m.images)]
    rows = [*[clip(i, 28) for i in shown], "overall"]
    columns = 1 if len(metrics) == 1 else 2
    lines = math.ceil(len(metrics) / columns)
    figure = Figure(figsize=(WIDTH_IN, lines * (1.0 + 0.3 * len(rows))), layout="constrained")
    grid = figure.subplots(lines, columns, sharey=True, squeeze=False)
    for ax in grid.flat[len(metrics) :]:
        ax.set_visible(False)
    for ax, (metric, m) in zip(grid.flat, metrics, strict=False):
        assert m is not None
        by_image = {r.image: r for r in m.images}
        lows, highs = [], []
        for y, name in enumerate(shown):
            r = by_image.get(name)
            if r is None:
                continue
            low, high = r.ci95 if r.ci95 else (r.speedup, r.speedup)
            ax.errorbar(
                r.speedup,
                y,
                xerr=[[r.speedup - low], [high - r.speedup]],
                fmt="o",
                color="#dd8452" if r.outlier else "#4c72b0",
                markersize=5,
                capsize=2,
            )
            lows.append(low)
            highs.append(high)
        y = len(shown)
        low, high = m.ci95 if m.ci95 else (m.speedup, m.speedup)
        ax.errorbar(
            m.speedup,
            y,
            xerr=[[m.speedup - low], [high - m.speedup]],
            fmt="D",
            color="black",
            markersize=8,
            capsize=4,
            linewidth=2,
        )
        _ratio_axis(ax, [*lows, low], [*highs, high])
        ax.axhline(y - 0.5, color="#cccccc", linewidth=0.8)
        ax.set_title(f"{METRIC_LABELS[metric]}: {m.speedup:.2f}×, {m.verdict}", fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
        ax.set_yticks(range(len(rows)), rows)
    grid.flat[0].invert_yaxis()
    figure.supxlabel(
        f"speed-up of {shown_target} over {shown_baseline} (> 1: {shown_target} is better; the "
        "dashed line marks 1 where it is in range)",
        fontsize="small",
    )
    return Chart(
        key,
        title,
        f"A forest plot per metric. Each dot is one image's speed-up: the ratio of its median on "
        f"{baseline} to its median on {target} (for tokens/s the other way "
        "round, so that > 1 always means the target is better), with a 95% interval from that "
        "image's measurement noise; orange marks an image far from the others. The black "
        "diamond is the headline: the geometric mean of the images' ratios, with its 95% CI "
        "(residual bootstrap of each target's pooled noise, Student's t at Welch–Satterthwaite "
        "degrees of freedom; README, \u201cWhy the speed-up is paired\u201d). The verdict says "
        "faster or slower only when the interval excludes 1. Each panel's axis spans its own "
        "data.",
        to_uri(figure),
    )


def quality_change(comparison: Comparison, index: int = 0) -> Chart | None:
    """A target's change in validity and accuracy against the baseline of its run."""
    return quality_chart(
        comparison.quality,
        target=comparison.target,
        baseline=comparison.baseline,
        key=f"quality-{index}",
        identical=(comparison.identical_reply_rate, comparison.identical_reply_pairs),
    )


def quality_chart(
    quality: Mapping[str, Change],
    *,
    target: str,
    baseline: str,
    key: str,
    identical: tuple[float | None, int] = (None, 0),
) -> Chart | None:
    """Each score's change, target − baseline, in points with its 95% CI."""
    if not quality:
        return None
    quality = inert(quality)  # field names come from the run file: no mathtext
    c_target, c_baseline = mpl_text(target), mpl_text(baseline)
    order = ["valid_rate", *[k for k in quality if k not in ("valid_rate", "overall")]]
    rows = [k for k in [*order, "overall"] if k in quality]
    figure, (ax,) = _figure(1.2 + 0.42 * len(rows))
    colours = {"better": "#55a868", "worse": "#c44e52"}
    for y, row in enumerate(rows):
        change = quality[row]
        delta = change.delta * 100
        low, high = (v * 100 for v in change.ci95) if change.ci95 else (delta, delta)
        ax.errorbar(
            delta,
            y,
            xerr=[[delta - low], [high - delta]],
            fmt="D" if row == "overall" else "o",
            color=colours.get(change.verdict, "#4c72b0"),
            markersize=8 if row == "overall" else 6,
            capsize=3,
        )
        ax.annotate(
            f"  {delta:+.1f} ({change.verdict})", (max(high, delta), y), va="center",
            fontsize="small",
        )  # fmt: skip
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    labels = {"valid_rate": "valid JSON"}
    ax.set_yticks(range(len(rows)), [labels.get(k, k) for k in rows])
    ax.invert_yaxis()
    ax.margins(x=0.35)
    ax.set_xlabel(
        f"change of {c_target} against {c_baseline} (percentage points; > 0: {c_target} is better)"
    )
    ax.grid(axis="x", alpha=0.3)
    rate, pairs = identical
    same = f" Replies identical to the baseline's: {rate:.0%} of {pairs} pairs." if rate else ""
    return Chart(
        key,
        f"Quality of {target} against {baseline}",
        "Beside the speed-up, what it costs: the change in the share of valid replies and in each "
        "field's accuracy, target minus baseline, in percentage points, from the replies both "
        "gave to the same image in the same round; the 95% CI clusters the pairs by image "
        "(Student's t on the per-image means). Better or worse only when the interval excludes "
        f"0.{same}",
        to_uri(figure),
    )


def accuracy_by_field(report: VisionReport) -> Chart | None:
    targets = [t for t in inert(report.summary.targets) if t.accuracy.get("overall") is not None]
    if not targets:
        return None
    fields = [k for k in targets[0].accuracy if k != "overall"] + ["overall"]
    figure, (ax,) = _figure(1.2 + 0.3 * len(fields) * max(len(targets), 2) / 2)
    height = 0.8 / len(targets)
    for k, t in enumerate(targets):
        ys = [i + (k - (len(targets) - 1) / 2) * height for i in range(len(fields))]
        xs = [(t.accuracy.get(f) or 0.0) * 100 for f in fields]
        bars = ax.barh(
            ys, xs, height * 0.9, color=f"C{k}", label=f"{t.name} ({t.accuracy_images} images)"
        )
        ax.bar_label(bars, fmt="%.0f%%", fontsize="x-small", padding=2)
    ax.set_yticks(range(len(fields)), fields)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("mean score over completed replies with a label")
    figure.legend(loc="outside lower center", ncols=len(targets), fontsize="small")
    return Chart(
        "accuracy",
        "Accuracy per field and target",
        "The mean score of each field over the completed measured replies to labelled images "
        "(a reply that is not valid JSON scores 0 on every field); overall is the mean of the "
        "fields. Field scores are defined in the README (\u201cWhat the figures mean\u201d). "
        "Text-only targets are left out: they saw no image to be right about.",
        to_uri(figure),
    )


def accuracy_vs_latency(report: VisionReport) -> Chart | None:
    summary, detail = inert(report.summary), inert(report.detail)
    scored = {t.name: t for t in summary.targets if t.accuracy.get("overall") is not None}
    rows = [t for t in detail.targets if t.name in scored]
    if not rows:
        return None
    figure, (ax,) = _figure(4.2)
    values: list[float] = []
    for k, target in enumerate(rows):
        colour = f"C{k}"
        points = [(i.median_s, i.accuracy * 100) for i in target.images if i.accuracy is not None]
        if points:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            ax.scatter(xs, ys, s=22, color=colour, alpha=0.55, linewidths=0)
            values += [p[0] for p in points]
        overall = scored[target.name]
        median = overall.latency_s.median
        if median is not None:
            share = (overall.accuracy.get("overall") or 0.0) * 100
            ax.scatter(
                [median],
                [share],
                s=160,
                marker="D",
                color=colour,
                edgecolors="black",
                label=f"{target.name}: overall",
            )
            ax.annotate(
                target.name,
                (median, share),
                xytext=(9, -12),
                textcoords="offset points",
                fontsize="small",
            )
            values.append(median)
    scale = seconds_axis(ax, values, axis="x")
    ax.set_ylim(-5, 108)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel(f"median latency ({scale})")
    ax.set_ylabel("accuracy (mean overall score)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return Chart(
        "accuracy-latency",
        "Accuracy against latency",
        "Small dots: one per target and labelled image, at that image's median latency and the "
        "mean overall score of its replies. Diamonds: each target's median latency over all its "
        "completed requests and its overall accuracy. Up and to the left is better.",
        to_uri(figure),
    )


def vision_charts(report: VisionReport) -> list[Chart]:
    order = [i.name for i in report.run.header.images]
    charts = [latency_by_image(report), time_split(report)]
    for k, c in enumerate(report.summary.comparisons):
        charts += [forest(c, order, k), quality_change(c, k)]
    charts += [accuracy_by_field(report), accuracy_vs_latency(report)]
    return [c for c in charts if c is not None]


# -- CNN ---------------------------------------------------------------------------------------

Panel = Callable[[Axes, Any, Sequence[Any]], None]

INFER_CAPTIONS = {
    "throughput": (
        "Images per second against batch size, per device",
        "Throughput = batch size / median batch latency (images/s, never batches/s), per device "
        "and CPU thread count, at each batch size, both axes logarithmic so that devices far "
        "apart stay readable: a line's slope is what batching buys on that device.",
    ),
    "latency_box": (
        "Batch latency distribution",
        "Every measured forward pass (warm-up batches left out): boxes span the quartiles, the "
        "line is the median, whiskers reach 1.5 × the interquartile range, dots are the passes "
        "beyond. One forward pass under torch.inference_mode(), timed with perf_counter_ns after "
        "synchronising the device.",
    ),
    "latency_vs_batch": (
        "Batch latency against batch size",
        "Median latency per batch (line) and the band up to its p90, per device: a flat line "
        "means larger batches come almost free; a line rising in proportion means none.",
    ),
    "speedup_vs_batch": (
        "Speed-up over the CPU at each batch size",
        "CPU median batch latency (with the most threads swept) / the device's median at the "
        "same batch size, with the 95% CI of stats.paired_ratio: the threads-vs-threads and "
        "device-vs-CPU comparison, batch size by batch size.",
    ),
}


def _panel(key: str, panel: Panel, summary: Any, samples: Sequence[Any]) -> Chart:
    figure, (ax,) = _figure(4.4)
    panel(ax, summary, samples)
    title, caption = INFER_CAPTIONS[key]
    return Chart(key, title, caption, to_uri(figure))


def infer_charts(report: InferReport) -> list[Chart]:
    summary, samples = inert(report.summary), inert(report.samples)
    if not summary.results:
        return []
    panels: dict[str, Panel] = {
        "throughput": cnn_plots.throughput_by_batch,
        "latency_box": cnn_plots.latency_box,
        "latency_vs_batch": cnn_plots.latency_by_batch,
    }
    if summary.speedups:
        panels["speedup_vs_batch"] = cnn_plots.speedup_by_batch
    return [_panel(k, panel, summary, samples) for k, panel in panels.items()]


def parallel_chart(report: ParallelReport) -> Chart | None:
    summary = inert(report.summary)
    if not summary.arms:
        return None
    arms = summary.arms
    figure, (ax,) = _figure(1.4 + 0.6 * len(arms))
    for y, a in enumerate(arms):
        colour = (
            "#55a868"
            if a.verdict == "faster"
            else "#c44e52"
            if a.verdict == "slower"
            else "#4c72b0"
        )
        low, high = a.ci95 if a.ci95 else (a.vs_sequential, a.vs_sequential)
        ax.barh(y, a.vs_sequential, color=colour, alpha=0.7)
        ax.errorbar(
            a.vs_sequential,
            y,
            xerr=[[a.vs_sequential - low], [high - a.vs_sequential]],
            color="black",
            capsize=4,
        )
        ax.annotate(
            f"  {a.vs_sequential:.2f}× · {a.images_per_s:.0f} images/s",
            (max(high, a.vs_sequential), y),
            va="center",
            fontsize="small",
        )
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(
        range(len(arms)), [f"{a.arm}\n{a.workers} × {a.intra_op_threads} threads" for a in arms]
    )
    ax.invert_yaxis()
    ax.margins(x=0.3)
    ax.set_xlabel("images/s relative to sequential calls (× ; > 1: faster)")
    return Chart(
        "arms",
        "Threads against batching: the arms",
        f"The same {summary.images} images per pass through each arm, passes interleaved after "
        "a warm-up: each bar is the median pass time of sequential calls / that arm's median, "
        "with the 95% CI of the ratio; the label gives images/s (images / median pass time). "
        "Threads: workers × intra-op threads per call, as read inside the calls.",
        to_uri(figure),
    )


def train_charts(report: TrainReport) -> list[Chart]:
    samples = report.samples
    by_workers: dict[int, list[Any]] = {}
    for s in sorted(samples, key=lambda e: e.epoch):
        by_workers.setdefault(s.workers, []).append(s)
    target = report.summary.target_accuracy
    figure, (acc, loss) = _figure(4.0, columns=2)
    for k, (workers, epochs) in enumerate(sorted(by_workers.items())):
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        xs = [e.epoch for e in epochs]
        acc.plot(
            xs, [e.test_accuracy * 100 for e in epochs], marker="o", color=f"C{k}", label=label
        )
        loss.plot(xs, [e.train_loss for e in epochs], marker="o", color=f"C{k}", label=label)
    acc.axhline(
        target * 100, color="grey", linestyle="--", linewidth=1, label=f"target {target:.0%}"
    )
    acc.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    for ax in (acc, loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    acc.set_xlabel("epoch")
    acc.set_ylabel("test accuracy")
    acc.legend(fontsize="small")
    loss.set_yscale("log")
    plain = FuncFormatter(lambda v, _p: f"{v:.2g}")
    loss.yaxis.set_major_formatter(plain)
    loss.yaxis.set_minor_formatter(plain)
    loss.set_xlabel("epoch")
    loss.set_ylabel("training loss (mean over the epoch, log scale)")
    loss.legend(fontsize="small")
    curves = Chart(
        "curves",
        "Training curves",
        "Test accuracy after each epoch (left; the dashed line is --target-accuracy) and the mean "
        "training loss of the epoch (right), per worker count, with the same seed, data split "
        "and global batch size (split across the workers).",
        to_uri(figure),
    )
    figure, (ax,) = _figure(3.6)
    for k, (workers, epochs) in enumerate(sorted(by_workers.items())):
        seconds = [e.epoch_time_ns / 1e9 for e in epochs]
        ax.plot(
            [e.epoch for e in epochs],
            seconds,
            marker="o",
            color=f"C{k}",
            label=f"{workers} worker{'s' if workers > 1 else ''}",
        )
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("epoch time (s)")
    ax.legend(fontsize="small")
    epoch_times = Chart(
        "epochs",
        "Time per epoch",
        "Wall time of each training epoch per worker count, evaluation excluded (perf_counter_ns): "
        "the scaling is the ratio of the median epoch times, with its 95% CI in the table.",
        to_uri(figure),
    )
    return [curves, epoch_times]


def charts(report: Report) -> list[Chart]:
    """Every figure of one run's section, in reading order."""
    if isinstance(report, VisionReport):
        return vision_charts(report)
    if isinstance(report, InferReport):
        return infer_charts(report)
    if isinstance(report, ParallelReport):
        chart = parallel_chart(report)
        return [chart] if chart else []
    if isinstance(report, TrainReport):
        return train_charts(report)
    raise TypeError(f"no figures for {type(report).__name__}")
