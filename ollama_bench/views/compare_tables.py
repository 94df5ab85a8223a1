"""Rendering of a run-vs-run comparison (vision/compare.py): the change in each metric per target,
validity and accuracy in both runs, each image's latency, and what differs between the runs.

Every entry makes its input printable first (untrusted.py): names, versions and options come from
servers and run files.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from ollama_bench.untrusted import sanitised
from ollama_bench.views.tables import (
    METRIC_LABELS,
    fmt_ci,
    fmt_rate,
    fmt_seconds,
    fmt_share,
    fmt_verdict,
    image_ratio_table,
    quality_rows,
)
from ollama_bench.vision.compare import RunComparison, TargetChange


def _value(metric: str, value: float | None) -> str:
    return fmt_seconds(value) if metric in ("latency", "ttft") else fmt_rate(value)


def change_table(comparison: RunComparison) -> Table:
    table = Table(
        title="Change from the first run (A) to the second (B), paired by target and image "
        "(> 1: B is better; A and B: medians)",
        title_justify="left",
        box=box.SIMPLE_HEAD,  # borderless: seven columns in 80 characters
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("target", "metric", "A", "B", "B vs A", "95% CI", "verdict"):
        table.add_column(
            column,
            justify="left" if column in ("target", "metric", "verdict") else "right",
            no_wrap=column in ("95% CI", "verdict"),
        )
    for t in comparison.targets:
        for metric, label in METRIC_LABELS.items():
            m = t.metrics.get(metric)
            if m is None:
                continue
            a, b = t.medians.get(metric, (None, None))
            table.add_row(
                t.target,
                label,
                _value(metric, a),
                _value(metric, b),
                f"{m.speedup:.2f}×",
                fmt_ci(m.ci95, "–"),  # tight: seven columns in 80 characters
                fmt_verdict(m.verdict),
            )
    return table


def _pair(values: tuple[float | None, float | None]) -> tuple[str, str]:
    return fmt_share(values[0]), fmt_share(values[1])


def quality_table(comparison: RunComparison) -> Table:
    table = Table(title="Requests, validity and accuracy in each run", title_justify="left")
    for column in ("target", "requests (failed) A", "B", "valid JSON A", "B", "accuracy A", "B"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for t in comparison.targets:
        table.add_row(
            t.target,
            f"{t.requests[0]} ({t.failed[0]})",
            f"{t.requests[1]} ({t.failed[1]})",
            *_pair(t.valid_rate),
            *_pair(t.accuracy),
        )
    return table


def quality_change_table(comparison: RunComparison) -> Table | None:
    """Each target's change in validity and accuracy from A to B, paired by image and round."""
    if not any(t.quality or t.identical_reply_pairs for t in comparison.targets):
        return None
    table = Table(
        title="Quality from A to B (points, paired by image and round; > 0: B is better)",
        title_justify="left",
    )
    for column in ("target", "figure", "change", "95% CI", "verdict"):
        table.add_column(column, justify="right" if column in ("change", "95% CI") else "left")
    for t in comparison.targets:
        identical = (t.identical_reply_rate, t.identical_reply_pairs)
        for i, row in enumerate(quality_rows(t.quality, identical)):
            table.add_row(t.target if i == 0 else "", *row)
        table.add_section()
    return table


def image_table(t: TargetChange) -> Table:
    title = f"{t.target}: latency by image, A and B (medians)"
    return image_ratio_table(title, ("A", "B", "B vs A", "n A / B"), t.images)


def render_compare(comparison: RunComparison, console: Console) -> None:
    """The comparison's tables and warnings; `comparison` may hold any text (sanitised here)."""
    c = sanitised(comparison)
    console.print(
        f"[bold]{c.scenario}[/bold] · A: {c.run_a} · B: {c.run_b} · {len(c.images)} images paired"
    )
    tables = [change_table(c), quality_table(c), quality_change_table(c)]
    tables += [image_table(t) for t in c.targets if len(t.images) > 1]
    for table in tables:
        if table is not None:
            console.print(table)
    for t in c.targets:
        d = t.reply_difference
        if d is not None:
            where = f"{d.path}: " if d.path else "reply: "
            console.print(
                f"{t.target}: B's reply differs from A's first at {d.image} round {d.round + 1}, "
                f"{where}{d.target} vs {d.baseline}",
                highlight=False,
            )
    for warning in c.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")
