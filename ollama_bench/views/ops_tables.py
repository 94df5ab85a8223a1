"""Rendering for the server commands (up, pull, doctor): rich for people, JSON for programs.

Nothing here talks to a server; it formats what stack.py, pulling.py and doctor.py found, each
public entry making its input printable first (untrusted.py), since most of it is server text.
Placement that contradicts a target's name is shown in a red panel: it is the mistake that
silently turns a GPU-versus-CPU comparison into a CPU-versus-CPU one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from ollama_bench.models import PlacementReading, TargetInfo, TargetSpec
from ollama_bench.ops.doctor import Diagnosis, Finding, TargetCheck, placement_findings
from ollama_bench.ops.pulling import PullOutcome, PullTally
from ollama_bench.untrusted import printable, sanitised
from ollama_bench.views.tables import fmt_bytes, server_label

LOUD_CODES = frozenset({"gpu-on-cpu", "cpu-on-gpu", "gpu-partial"})
_MARK = {"error": "[red]✗[/red]", "warning": "[yellow]![/yellow]", None: "[green]✓[/green]"}
_LEVEL = {"error": "[red]error[/red]", "warning": "[yellow]warning[/yellow]", "note": "note"}


def _model_cell(info: TargetInfo) -> str:
    if not info.model_present:
        return "[red]missing[/red]" if info.reachable else "–"
    if info.api == "openai":  # /v1/models lists names only: no digest, size or quantisation
        return "served" + (f" · context {info.context_length}" if info.context_length else "")
    parts = [(info.model_digest or "")[:12], fmt_bytes(info.model_size_bytes)]
    parts += [p for p in (info.quantization, info.parameter_size) if p]
    return " · ".join(parts)


def _placement_cell(check: TargetCheck) -> str:
    placement = check.placement
    if check.unreported:
        return "[dim]unknown (not reported)[/dim]"
    if placement is None:
        return "–"
    if not placement.loaded:
        return "[dim]not loaded: unknown[/dim]"
    loaded = " [dim](just loaded)[/dim]" if check.loaded_by_doctor else ""
    return placement.label + loaded


def _worst(findings: Sequence[Finding], target: str) -> str | None:
    levels = {f.level for f in findings if f.target == target}
    return next((level for level in ("error", "warning") if level in levels), None)


def doctor_table(diagnosis: Diagnosis) -> Table:
    table = Table(
        title=f"obench doctor · {diagnosis.model} · num_ctx {diagnosis.num_ctx}",
        title_justify="left",
    )
    for column in ("target", "url", "server", "model (digest · size · quant)", "loaded on"):
        table.add_column(column)
    for check in diagnosis.targets:
        info = check.info
        mark = _MARK[_worst(diagnosis.findings, info.name)]
        table.add_row(
            f"{mark} {info.name}",
            info.url,
            server_label(info.api, info.server, info.version) or "–",
            _model_cell(info),
            _placement_cell(check),
        )
    return table


def _finding_line(finding: Finding) -> Text:
    where = f"{finding.target}: " if finding.target else ""
    hint = f" [dim]— {finding.hint}[/dim]" if finding.hint else ""
    return Text.from_markup(f"{_LEVEL[finding.level]} {where}{finding.message}{hint}")


def render_diagnosis(diagnosis: Diagnosis, console: Console) -> None:
    diagnosis = sanitised(diagnosis)
    console.print(doctor_table(diagnosis))
    loud = [f for f in diagnosis.findings if f.code in LOUD_CODES]
    if loud:
        lines = [Text.from_markup(f"[bold]{f.message}[/bold]\n[dim]→ {f.hint}[/dim]") for f in loud]
        console.print(
            Panel(
                Group(*lines),
                title="[bold red]PLACEMENT DOES NOT MATCH THE TARGET'S NAME[/bold red]",
                border_style="bold red",
            )
        )
    for finding in diagnosis.findings:
        if finding.code not in LOUD_CODES:
            console.print(_finding_line(finding))
    verdict = {
        0: "[green]all well[/green]",
        1: "[yellow]usable, with warnings[/yellow]",
        3: "[red]a target is unusable[/red]",
    }[diagnosis.exit_code]
    console.print(f"{verdict} (exit {diagnosis.exit_code})")


def diagnosis_json(diagnosis: Diagnosis) -> str:
    return json.dumps(diagnosis.model_dump(mode="json"), indent=2)


def print_placements(readings: Sequence[PlacementReading], console: Console) -> None:
    """After the warm-up of `obench vision`: where each target has the model, loudly if wrong."""
    for reading in sanitised(list(readings)):
        label = reading.placement.label if not reading.error else f"unknown ({reading.error})"
        console.print(f"  {reading.target}: model loaded {label}", highlight=False)
        for finding in placement_findings(reading.target, reading.placement):
            console.print(f"  [bold red]WARNING {finding.message}[/bold red]", highlight=False)


class PullView:
    """PullObserver: one progress bar per target pulling (bytes, rate, ETA), a line per result."""

    def __init__(self, console: Console, model: str, enabled: bool = True) -> None:
        self.console, self.model = console, model
        self.progress = Progress(
            TextColumn("{task.fields[name]}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> PullView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def started(self, spec: TargetSpec) -> None:
        self._tasks[spec.name] = self.progress.add_task(
            spec.name, total=None, name=spec.name, status="pulling manifest", rate="", eta="–"
        )

    def progressed(self, spec: TargetSpec, tally: PullTally) -> None:
        done = tally.total_bytes and tally.completed_bytes >= tally.total_bytes
        rate = tally.mean_rate_bytes_per_s if done else tally.rate_bytes_per_s
        self.progress.update(
            self._tasks[spec.name],
            total=tally.total_bytes or None,
            completed=tally.completed_bytes,
            status=printable(tally.status),
            rate="?" if rate is None else f"{fmt_bytes(int(rate))}/s",
            eta=fmt_eta(tally.eta_s),
        )

    def finished(self, outcome: PullOutcome) -> None:
        print_pull_outcome(outcome, self.model, self.progress.console)


def fmt_eta(seconds: float | None) -> str:
    """`0:01:05`, as rich shows time remaining; `–` when unknown."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def print_pull_outcome(outcome: PullOutcome, model: str, console: Console) -> None:
    outcome, model = sanitised(outcome), printable(model)
    size = f", {fmt_bytes(outcome.size_bytes)}" if outcome.size_bytes else ""
    digest = (outcome.digest or "")[:12]
    if outcome.state == "present":
        console.print(
            f"[green]✓[/green] {outcome.target} {outcome.url} already has {model} "
            f"({digest}{size}): skipped [dim](--force pulls it again)[/dim]",
            highlight=False,
        )
    elif outcome.state == "pulled":
        console.print(
            f"[green]✓[/green] {outcome.target} {outcome.url} pulled {model} ({digest}{size})",
            highlight=False,
        )
    elif outcome.state == "skipped":
        console.print(f"[dim]–[/dim] {outcome.target}: {outcome.error}", highlight=False)
    else:
        hint = f" [dim]— {outcome.hint}[/dim]" if outcome.hint else ""
        console.print(f"[red]✗[/red] {outcome.target}: {outcome.error}{hint}", highlight=False)


def pull_json(outcomes: Sequence[PullOutcome]) -> str:
    return json.dumps([o.model_dump(mode="json") for o in outcomes], indent=2)


def print_stack(infos: Sequence[TargetInfo], model: str, console: Console) -> None:
    """After `obench up`: each server's URL, version, and whether it has the model yet."""
    model = printable(model)
    for info in sanitised(list(infos)):
        if info.model_present:
            state = f"{model} ready ({(info.model_digest or '')[:12]})"
        else:
            state = f"{model} not pulled yet [dim]→ obench pull[/dim]"
        console.print(
            f"[green]✓[/green] {info.name} {info.url} · Ollama {info.version} · {state}",
            highlight=False,
        )
        for warning in info.warnings:
            if not warning.startswith("pull it"):
                console.print(f"  [yellow]warning[/yellow] {warning}", highlight=False)
