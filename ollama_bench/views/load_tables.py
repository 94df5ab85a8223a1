"""Rendering of a load sweep: per target a table of its steps, its knee, and the warnings.

Nothing here measures or computes a statistic; it formats a LoadSummary (load/summary.py).
`render_load` makes its whole input printable first (untrusted.py): error texts, versions and
names come from servers and are shown, never obeyed.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ollama_bench.load.records import LoadSample, StepSpec
from ollama_bench.load.summary import LoadSummary, LoadTargetSummary, Percentiles, StepSummary
from ollama_bench.untrusted import sanitised
from ollama_bench.views.tables import fmt_rate, fmt_seconds, fmt_share, print_warnings


def _pct(p: Percentiles | None, key: str) -> str:
    return "–" if p is None else fmt_seconds(getattr(p, key))


def _energy(step: StepSummary, per: str) -> str:
    e = step.energy
    value = (
        None
        if e is None
        else e.joules_per_request
        if per == "request"
        else e.joules_per_output_token
    )
    return "–" if value is None else f"{value:.3g} J"


def _itl(step: StepSummary) -> str:
    itl = step.itl
    return "–" if itl is None else f"{fmt_seconds(itl.p50_s)} / {fmt_seconds(itl.p99_s)}"


def _stalls(step: StepSummary) -> str:
    itl = step.itl
    return "–" if itl is None or itl.stalls is None else str(itl.stalls)


def _growth(step: StepSummary) -> str:
    return "–" if step.queue_growth is None else f"{step.queue_growth:+.2f} s/s"


def throughput_table(target: LoadTargetSummary, slo: float | None) -> Table:
    title = f"{target.name} · {target.url}"
    if target.version:
        title += f" · Ollama {target.version}"
    table = Table(title=f"{title}: throughput and latency", title_justify="left")
    columns = ["step", "requests (failed)", "req/s", "served/offered", "output tok/s"]
    columns += [f"goodput/s ≤ {fmt_seconds(slo)}"] if slo is not None else []
    columns += ["latency p50", "p90", "p95", "p99", "TTFT p50", "TTFT p99"]
    for name in columns:
        table.add_column(name, justify="left" if name == "step" else "right")
    for s in target.steps:
        cells = [s.label, f"{s.sent} ({s.failed})", fmt_rate(s.throughput_per_s)]
        cells += [fmt_share(s.served_share), fmt_rate(s.output_tokens_per_s)]
        cells += [fmt_rate(s.goodput_per_s)] if slo is not None else []
        cells += [_pct(s.latency_s, k) for k in ("p50", "p90", "p95", "p99")]
        cells += [_pct(s.ttft_s, "p50"), _pct(s.ttft_s, "p99")]
        table.add_row(*cells)
    return table


def queue_table(target: LoadTargetSummary) -> Table:
    table = Table(title=f"{target.name}: queueing, streaming and energy", title_justify="left")
    columns = ["step", "queue p50", "queue p99", "queue growth", "client lag p99"]
    columns += ["ITL p50 / p99", "stalls", "J/request", "J/output token"]
    for name in columns:
        table.add_column(name, justify="left" if name == "step" else "right")
    for s in target.steps:
        table.add_row(
            s.label,
            _pct(s.queue_s, "p50"),
            _pct(s.queue_s, "p99"),
            _growth(s),
            _pct(s.lag_s, "p99"),
            _itl(s),
            _stalls(s),
            _energy(s, "request"),
            _energy(s, "token"),
        )
    return table


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
