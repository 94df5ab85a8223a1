"""The seeds' inference dashboard as PNGs: latency spread, throughput, latency and speed-up.

Uses matplotlib's object API with the Agg canvas: no pyplot state, no display needed. Axes say
their units: images/s (never batches/s) and milliseconds per batch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ollama_bench.cnn.records import InferSample
from ollama_bench.cnn.summary import InferSummary
from ollama_bench.errors import UsageError

Pair = tuple[str, int]  # (device, threads)


def _label(pair: Pair) -> str:
    device, threads = pair
    return f"{device} · {threads} thread{'s' if threads != 1 else ''}"


def _pairs(summary: InferSummary) -> list[Pair]:
    found = {(r.device, r.threads) for r in summary.results}
    return sorted(found, key=lambda p: (p[0] != "cpu", p[0], -p[1]))


def _colour(summary: InferSummary, pair: Pair) -> str:
    """The same colour for a device setting in every panel."""
    return f"C{_pairs(summary).index(pair)}"


def _plain_log(ax: Axes) -> None:
    """Log-scale y with plain numbers (2, 5, 10, 20) instead of 2×10⁰.

    Over more than a decade only 1, 2 and 5 × 10ᵏ are labelled, so the labels do not crowd.
    """

    def label(value: float, _position: float) -> str:
        low, high = ax.get_ylim()
        leading = round(value / 10 ** math.floor(math.log10(value)))
        return f"{value:g}" if high / low < 15 or leading in (1, 2, 5) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(label))
    ax.yaxis.set_minor_formatter(FuncFormatter(label))


def _batches(summary: InferSummary) -> list[int]:
    return sorted({r.batch_size for r in summary.results})


def latency_box(ax: Axes, summary: InferSummary, samples: Sequence[InferSample]) -> None:
    """Every measured batch latency, one box per device setting within each batch size."""
    series: dict[tuple[str, int, int], list[float]] = defaultdict(list)
    for s in samples:
        if s.phase == "measured":
            series[(s.device, s.threads, s.batch_size)].append(s.latency_ns / 1e6)
    pairs, batches = _pairs(summary), _batches(summary)
    width = 0.8 / len(pairs)
    for i, pair in enumerate(pairs):
        data = [series.get((*pair, b), []) for b in batches]
        positions = [k + (i - (len(pairs) - 1) / 2) * width for k in range(len(batches))]
        kept = [(p, d) for p, d in zip(positions, data, strict=True) if d]
        colour = _colour(summary, pair)
        boxes = ax.boxplot(
            [d for _, d in kept],
            positions=[p for p, _ in kept],
            widths=width * 0.85,
            patch_artist=True,
            showfliers=True,
            flierprops={"markersize": 3, "markeredgecolor": colour},
            medianprops={"color": colour, "linewidth": 2},  # a flat box is still its colour
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(colour)
            patch.set_alpha(0.45)
        ax.plot([], [], color=colour, linewidth=6, alpha=0.6, label=_label(pair))
    ax.set_xticks(range(len(batches)), [str(b) for b in batches])
    _plain_log(ax)
    ax.set_xlabel("batch size (images)")
    ax.set_ylabel("latency per batch (ms, log scale)")
    ax.set_title("Latency distribution per device (measured batches)")
    ax.legend(fontsize="small")


def throughput(ax: Axes, summary: InferSummary, _samples: Sequence[InferSample]) -> None:
    pairs, batches = _pairs(summary), _batches(summary)
    rate = {(r.device, r.threads, r.batch_size): r.images_per_s for r in summary.results}
    width = 0.8 / len(pairs)
    for i, pair in enumerate(pairs):
        xs = [k + (i - (len(pairs) - 1) / 2) * width for k in range(len(batches))]
        ys = [rate.get((*pair, b), 0.0) for b in batches]
        bars = ax.bar(xs, ys, width * 0.9, label=_label(pair), color=_colour(summary, pair))
        ax.bar_label(bars, fmt="%.0f", fontsize="x-small", padding=2)
    ax.set_xticks(range(len(batches)), [str(b) for b in batches])
    ax.set_xlabel("batch size (images)")
    ax.set_ylabel("throughput (images/s)")
    ax.set_title("Throughput per device: batch size / median batch latency")
    ax.margins(y=0.12)
    ax.legend(fontsize="small", loc="upper left")  # bars usually grow to the right


def throughput_by_batch(ax: Axes, summary: InferSummary, _samples: Sequence[InferSample]) -> None:
    """Images/s against batch size, a line per device setting, both axes logarithmic: devices
    20× apart stay readable, and a line's slope is what batching buys on that device."""
    for pair in _pairs(summary):
        rows = sorted(
            (r for r in summary.results if (r.device, r.threads) == pair),
            key=lambda r: r.batch_size,
        )
        xs = [r.batch_size for r in rows]
        ys = [r.images_per_s for r in rows]
        ax.plot(xs, ys, marker="o", color=_colour(summary, pair), label=_label(pair))
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                fontsize="x-small",
            )  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.margins(x=0.08, y=0.15)
    _plain_log(ax)
    batches = _batches(summary)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch size (images, log scale)")
    ax.set_ylabel("throughput (images/s, log scale)")
    ax.set_title("Throughput per device: batch size / median batch latency")
    ax.legend(fontsize="small")


def latency_by_batch(ax: Axes, summary: InferSummary, _samples: Sequence[InferSample]) -> None:
    for pair in _pairs(summary):
        colour = _colour(summary, pair)
        rows = sorted(
            (r for r in summary.results if (r.device, r.threads) == pair),
            key=lambda r: r.batch_size,
        )
        xs = [r.batch_size for r in rows]
        medians = [r.batch_latency_s.median * 1e3 for r in rows]
        p90s = [r.batch_latency_s.p90 * 1e3 for r in rows]
        ax.plot(xs, medians, marker="o", color=colour, label=f"{_label(pair)}: median")
        for x, y in zip(xs, medians, strict=True):
            ax.annotate(
                f"{y:.3g}", (x, y), textcoords="offset points", xytext=(6, -10), fontsize="x-small"
            )
        ax.fill_between(xs, medians, p90s, color=colour, alpha=0.2, label="  band up to p90")
    ax.set_xscale("log", base=2)
    ax.margins(x=0.08)  # room for the value labels at the ends
    _plain_log(ax)
    batches = _batches(summary)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch size (images, log scale)")
    ax.set_ylabel("latency per batch (ms, log scale)")
    ax.set_title("Batch latency vs batch size")
    ax.legend(fontsize="small")


def speedup_by_batch(ax: Axes, summary: InferSummary, _samples: Sequence[InferSample]) -> None:
    ax.axhline(1.0, color="grey", linewidth=1, linestyle="--")
    pairs = sorted({(s.device, s.threads) for s in summary.speedups})
    for pair in pairs:
        rows = sorted(
            (s for s in summary.speedups if (s.device, s.threads) == pair),
            key=lambda s: s.batch_size,
        )
        xs = [s.batch_size for s in rows]
        ys = [s.speedup_vs_cpu for s in rows]
        low = [y - s.ci95[0] if s.ci95 else 0.0 for y, s in zip(ys, rows, strict=True)]
        high = [s.ci95[1] - y if s.ci95 else 0.0 for y, s in zip(ys, rows, strict=True)]
        ax.errorbar(
            xs,
            ys,
            yerr=[low, high],
            marker="o",
            capsize=3,
            color=_colour(summary, pair),
            label=_label(pair),
        )
    ax.set_xscale("log", base=2)
    batches = _batches(summary)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch size (images, log scale)")
    ax.set_ylabel(f"speed-up over cpu · {summary.threads} threads (×)")
    ax.set_title("Speed-up vs batch size (ratio of medians, 95% CI)")
    if pairs:
        ax.legend(fontsize="small")
    else:
        ax.set_yticks([])
        ax.text(
            0.5,
            0.5,
            "only the CPU baseline was measured:\nno other device or thread count to compare",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )


Panel = Callable[[Axes, InferSummary, Sequence[InferSample]], None]
PANELS: dict[str, Panel] = {
    "latency_box": latency_box,
    "throughput": throughput,
    "latency_vs_batch": latency_by_batch,
    "speedup_vs_batch": speedup_by_batch,
}


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110)
    return path


def dashboard(summary: InferSummary, samples: Sequence[InferSample], folder: Path) -> list[Path]:
    """One PNG per panel and `dashboard.png` with all four; returns the paths written."""
    if not summary.results:
        raise UsageError("nothing was measured, so there is nothing to plot")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create plot folder {folder}: {exc.strerror}") from None
    prefix = f"{summary.model}-"
    written = []
    for name, panel in PANELS.items():
        figure = Figure(figsize=(7, 4.5), layout="constrained")
        panel(figure.add_subplot(), summary, samples)
        written.append(_save(figure, folder / f"{prefix}{name}.png"))
    figure = Figure(figsize=(14, 9), layout="constrained")
    applied = summary.applied_optimizations.get("cpu", summary.optimizations)
    figure.suptitle(
        f"{summary.model}: {summary.flops_per_image / 1e9:.3g} GFLOP per image, random weights, "
        f"optimisations: {', '.join(applied) or 'none'}"
    )
    for axes, panel in zip(figure.subplots(2, 2).flat, PANELS.values(), strict=True):
        panel(axes, summary, samples)
    written.append(_save(figure, folder / f"{prefix}dashboard.png"))
    return written
