"""Rendering of a load sweep: per target a table of its steps, its knee, and the warnings.

Nothing here measures or computes a statistic; it formats a LoadSummary (load/summary.py).
`render_load` makes its whole input printable first (untrusted.py): error texts, versions and
names come from servers and are shown, never obeyed.
"""

from __future__ import annotations

from collections.abc import Callable

from rich import box
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ollama_bench.load.records import LoadSample, StepSpec
from ollama_bench.load.summary import LoadSummary, LoadTargetSummary, Percentiles, StepSummary
from ollama_bench.untrusted import sanitised
from ollama_bench.views.tables import (
    fmt_energy,
    fmt_itl,
    fmt_rate,
    fmt_seconds,
    fmt_share,
    fmt_stalls,
    print_warnings,
    server_label,
)


def _pct(p: Percentiles | None, key: str) -> str:
    return "–" if p is None else fmt_seconds(getattr(p, key))


def _growth(step: StepSummary) -> str:
    return "–" if step.queue_growth is None else f"{step.queue_growth:+.2f}"


Column = tuple[str, Callable[[StepSummary], str]]


def step_table(title: str, steps: list[StepSummary], columns: list[Column]) -> Table:
    """One row per step; a column with nothing to show in any step (open-loop figures in a
    closed-loop sweep, energy where none is measurable) is left out, so that the tables stay
    readable in 80 columns. The figures stay in --json, CSV and the HTML report."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    kept = [(n, cell) for n, cell in columns if any(cell(s) != "–" for s in steps)]
    rows = [[s.label, *[cell(s) for _, cell in kept]] for s in steps]
    for i, name in enumerate(["step", *[n for n, _ in kept]]):
        # as wide as its widest value, so that narrow terminals wrap the header, never a value
        width = max(len(row[i]) for row in rows)
        table.add_column(name, justify="left" if i == 0 else "right", min_width=width)
    for row in rows:
        table.add_row(*row)
    return table


def throughput_table(target: LoadTargetSummary, slo: float | None) -> Table:
    title = f"{target.name} · {target.url}"
    if server := server_label(target.api, target.server, target.version):
        title += f" · {server}"
    columns: list[Column] = [
        ("requests (failed)", lambda s: f"{s.sent} ({s.failed})"),
        ("req/s", lambda s: fmt_rate(s.throughput_per_s)),
        ("served / offered", lambda s: fmt_share(s.served_share)),
        ("output tok/s", lambda s: fmt_rate(s.output_tokens_per_s)),
    ]
    if slo is not None:
        columns.append((f"goodput/s ≤ {fmt_seconds(slo)}", lambda s: fmt_rate(s.goodput_per_s)))
    return step_table(f"{title}: throughput", target.steps, columns)


def latency_table(target: LoadTargetSummary) -> Table:
    """Latency p50 to p99 and TTFT p50 and p99 (--json, CSV and HTML have TTFT's p90 and p95)."""

    def percentile(field: str, key: str, name: str) -> Column:
        return name, lambda s: _pct(getattr(s, field), key)

    keys = ("p50", "p90", "p95", "p99")
    columns = [percentile("latency_s", k, "latency p50" if k == "p50" else k) for k in keys]
    columns += [percentile("ttft_s", k, f"TTFT {k}") for k in ("p50", "p99")]
    return step_table(f"{target.name}: latency and time to first token", target.steps, columns)


def queue_table(target: LoadTargetSummary) -> Table:
    columns: list[Column] = [
        ("queue p50", lambda s: _pct(s.queue_s, "p50")),
        ("queue p99", lambda s: _pct(s.queue_s, "p99")),
        ("queue growth (s/s)", _growth),
        ("client lag p99", lambda s: _pct(s.lag_s, "p99")),
        ("ITL p50 / p99", lambda s: fmt_itl(s.itl)),
        ("stalls", lambda s: fmt_stalls(s.itl)),
        ("J/request", lambda s: fmt_energy(s.energy, "request", sources=False)),
        ("J/output token", lambda s: fmt_energy(s.energy, "token")),
    ]
    return step_table(f"{target.name}: queueing, streaming and energy", target.steps, columns)


def knee_lines(target: LoadTargetSummary) -> list[str]:
    lines = []
    for knee in target.knees:
        loop = "closed loop" if knee.mode == "concurrency" else "open loop"
        if knee.step is None:
            lines.append(f"{target.name} ({loop}): {knee.reason}")
        else:
            lines.append(
                f"{target.name} ({loop}): knee at [bold]{knee.label}[/bold] "
                f"({fmt_rate(knee.throughput_per_s)} req/s): {knee.reason}"
            )
    return lines


def render_load(summary: LoadSummary, console: Console) -> None:
    summary = sanitised(summary)
    sent = "schema" if summary.structured else "none"
    title = f"[bold]{summary.scenario}[/bold] load · {summary.model} · format {sent}"
    if summary.interrupted:
        title += " · [yellow]interrupted: partial results[/yellow]"
    console.print(title)
    console.print(f"[dim]targets loaded {summary.order}[/dim]")
    for target in summary.targets:
        if not target.usable:
            console.print(f"[red]✗[/red] {target.name}: not loaded ({target.error or ''})")
            continue
        if not target.steps:
            console.print(f"{target.name}: no measured request finished")
            continue
        console.print(throughput_table(target, summary.slo_latency_s))
        console.print(latency_table(target))
        console.print(queue_table(target))
        for line in knee_lines(target):
            console.print(line)
    if summary.energy_note:
        console.print(f"[dim]{summary.energy_note}[/dim]")
    print_warnings(summary.warnings, console)
    console.print(f"run file: {summary.run_file}")


class LoadProgress:
    """Load observer driving one progress bar, reset at every step."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def step_started(self, target: str, step: StepSpec | None, requests: int) -> None:
        label = "warm-up" if step is None else step.label
        description = f"{target} · {label}"
        if self.task is None:
            self.task = self.progress.add_task(description, total=requests)
        else:
            self.progress.reset(self.task, total=requests, description=description)

    def finished(self, sample: LoadSample) -> None:
        if self.task is not None:
            self.progress.advance(self.task)
