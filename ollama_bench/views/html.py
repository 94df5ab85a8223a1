"""The HTML report: one self-contained file, a section per run file, readable offline.

The page is a Jinja2 template with autoescaping on, so every string from a record is escaped
wherever it lands (text or attribute); the only markup not written by the template is built
here with markupsafe (table cells from the terminal's own styles, each piece escaped). It
carries no script, no external font or stylesheet, and its figures are SVG data URIs in `<img>`;
a Content-Security-Policy forbids anything else, so even a slip in escaping could not run a
script or reach the network. Each section is built from records by one function per kind of
run: adding a kind is adding its builder to SECTION_BUILDERS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup, escape
from pydantic import BaseModel
from rich.text import Text

from ollama_bench import __version__
from ollama_bench.load.records import LoadHeader
from ollama_bench.models import ImageInfo, PlacementReading, RunHeader, TargetInfo
from ollama_bench.runfiles import (
    ComparedRuns,
    InferReport,
    LoadReport,
    ParallelReport,
    Report,
    TrainReport,
    VisionReport,
)
from ollama_bench.untrusted import clip, visible
from ollama_bench.views.blocks import Paragraph, TableBlock, blocks, styled_runs
from ollama_bench.views.figures import Chart, charts, forest_chart, quality_chart
from ollama_bench.views.kinds import kind
from ollama_bench.views.load_figures import load_charts
from ollama_bench.views.tables import fmt_bytes, fmt_seconds
from ollama_bench.vision.detail import Problem
from ollama_bench.vision.summary import Warning

REPLY_PREVIEW_CHARS = 120


@dataclass(frozen=True)
class Grid:
    """A table of plain strings (escaped by the template)."""

    title: str
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class StyledTable:
    """A terminal table with its cells already made safe Markup."""

    title: Markup | None
    headers: list[Markup]
    right: list[bool]
    rows: list[list[Markup]]


@dataclass
class Section:
    anchor: str
    title: str
    verdict: str
    warnings: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[StyledTable] = field(default_factory=list)
    notes: list[Markup] = field(default_factory=list)  # the terminal's lines beside its tables
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0
    about: list[Grid] = field(default_factory=list)  # the run's header


def styled(text: Text) -> Markup:
    """rich Text as HTML: each piece escaped, the terminal's colours as CSS classes."""
    pieces = []
    for piece, styles in styled_runs(text):
        safe = Markup("<br>").join(escape(visible(line)) for line in piece.split("\n"))
        if styles:
            classes = " ".join(f"t-{s}" for s in styles)
            pieces.append(Markup('<span class="{}">{}</span>').format(classes, safe))
        else:
            pieces.append(safe)
    return Markup("").join(pieces)


def _terminal(section: Section, draw: Callable[[Any], None]) -> None:
    """The terminal's tables and lines; its warnings are already listed at the top."""
    for block in blocks(draw):
        if isinstance(block, TableBlock):
            section.tables.append(
                StyledTable(
                    title=styled(block.title) if block.title is not None else None,
                    headers=[styled(h) for h in block.headers],
                    right=block.right,
                    rows=[[styled(c) for c in row] for row in block.rows],
                )
            )
        elif isinstance(block, Paragraph) and not block.text.plain.startswith("warning "):
            section.notes.append(styled(block.text))


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def key_values(title: str, record: BaseModel | dict[str, Any], skip: Sequence[str] = ()) -> Grid:
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
    rows = [[key, _value(value)] for key, value in data.items() if key not in skip]
    return Grid(title, ["field", "value"], rows)


def header_facts(
    path: Path, header: RunHeader | LoadHeader, finished: datetime | None
) -> dict[str, Any]:
    """What every request of a vision or load run shared: the file, the tool, the prompt."""
    return {
        "run file": str(path),
        "run id": header.run_id,
        "obench": header.tool_version,
        "started": header.started_at.isoformat(),
        "finished": finished.isoformat() if finished else "not finished (no footer)",
        "scenario": header.scenario,
        "prompt sha256": header.prompt_sha256,
        "schema sent": "yes" if header.schema_sent else "no",
        "warm-up requests per target": header.warmup,
    }


def _vision_about(report: VisionReport) -> list[Grid]:
    run, header = report.run, report.run.header
    footer = run.footer
    facts = header_facts(report.path, header, footer.finished_at if footer else None) | {
        "rounds asked": header.runs,
        "stop rule": header.stop.model_dump(mode="json"),
        "segments (resumptions + 1)": len(run.segments) + 1,
    }
    placements = footer.placements if footer else []
    return [
        key_values("Run", facts),
        key_values("Request settings", header.settings),
        targets_grid(header.targets, placements),
        key_values("Host", header.host),
        images_grid(header.images),
    ]


def targets_grid(targets: Sequence[TargetInfo], placements: Sequence[PlacementReading]) -> Grid:
    """What the probe found of each target, and where its model sat when it was read."""
    return Grid(
        "Targets",
        [
            "target",
            "status",
            "URL",
            "API / server",
            "version",
            "model digest",
            "model",
            "placement",
            "options",
            "headers sent",
            "response format",
            "images sent",
        ],
        [
            [
                t.name,
                "usable" if t.usable else f"left out: {t.error}",
                t.url,
                " ".join(p for p in (t.api, t.server) if p),
                _value(t.version),
                _value(t.model_digest),
                " · ".join(
                    p
                    for p in (
                        t.model_family,
                        t.parameter_size,
                        t.quantization,
                        fmt_bytes(t.model_size_bytes) if t.model_size_bytes else None,
                    )
                    if p
                )
                or "–",
                _placements(placements, t.name, t.placement.label if t.placement else None),
                _value(t.options) if t.options else "–",
                ", ".join(t.sent_headers) or "–",
                _value(t.response_format),
                "yes" if t.images else "no (text only)",
            ]
            for t in targets
        ],
    )


def images_grid(images: Sequence[ImageInfo]) -> Grid:
    return Grid(
        "Images",
        ["image", "format", "pixels", "size", "sha256", "sent instead"],
        [
            [
                i.name,
                _value(i.format),
                f"{i.width_px}×{i.height_px}" if i.width_px else "–",
                fmt_bytes(i.size_bytes),
                i.sha256[:16] + "…",
                f"{i.sent_width_px}×{i.sent_height_px}, {fmt_bytes(i.sent_size_bytes)}"
                if i.sent_sha256
                else "the file",
            ]
            for i in images
        ],
    )


def _placements(readings: Sequence[PlacementReading], name: str, probe: str | None) -> str:
    parts = [f"probe: {probe or '–'}"]
    parts += [f"after {r.after}: {r.placement.label}" for r in readings if r.target == name]
    return "; ".join(parts)


def warning_lines(warnings: Sequence[Warning]) -> list[str]:
    return [
        f"{w.target + ': ' if w.target else ''}{w.message}{f' ({w.hint})' if w.hint else ''}"
        for w in warnings
    ]


def vision_section(report: VisionReport, anchor: str) -> Section:
    k = kind(report)
    s = report.summary
    section = Section(anchor, k.title, k.verdict)
    section.warnings = warning_lines(s.warnings)
    section.charts = charts(report)
    _terminal(section, k.render)
    section.problems = report.detail.problems
    section.problems_total = report.detail.problems_total
    section.about = _vision_about(report)
    return section


def _load_about(report: LoadReport) -> list[Grid]:
    run, header = report.run, report.run.header
    footer = run.footer
    facts = header_facts(report.path, header, footer.finished_at if footer else None) | {
        "interrupted": "yes" if footer is None or footer.interrupted else "no",
        "latency objective (--slo-latency)": fmt_seconds(header.slo_latency_s)
        if header.slo_latency_s is not None
        else "none",
        "order": header.order,
    }
    steps = Grid(
        "Steps (the same for every target)",
        ["step", "mode", "level", "at most requests", "at most seconds", "schedule seed"],
        [
            [
                str(spec.index),
                "closed loop" if spec.mode == "concurrency" else "open loop (Poisson)",
                spec.label,
                str(spec.max_requests),
                f"{spec.max_duration_s:g}",
                _value(spec.seed),
            ]
            for spec in header.steps
        ],
    )
    labels = {spec.index: spec.label for spec in header.steps}
    done = Grid(
        "Steps as run",
        ["target", "step", "started", "time (start → last reply)", "sent", "stopped by"],
        [
            [
                d.target,
                labels.get(d.step, str(d.step)),
                d.started_at.isoformat(timespec="seconds"),
                fmt_seconds(d.elapsed_s),
                str(d.sent),
                d.stopped_by,
            ]
            for d in run.steps
        ],
    )
    return [
        key_values("Run", facts),
        steps,
        done,
        key_values("Request settings", header.settings),
        targets_grid(header.targets, footer.placements if footer else []),
        key_values("Host", header.host),
        images_grid(header.images),
    ]


def load_section(report: LoadReport, anchor: str) -> Section:
    k = kind(report)
    section = Section(anchor, k.title, k.verdict)
    section.warnings = warning_lines(report.summary.warnings)
    section.charts = load_charts(report)
    _terminal(section, k.render)
    section.about = _load_about(report)
    return section


def _cnn_section(report: InferReport | ParallelReport | TrainReport, anchor: str) -> Section:
    k = kind(report)
    section = Section(anchor, k.title, k.verdict)
    section.warnings = list(report.summary.warnings)
    section.charts = charts(report)
    _terminal(section, k.render)
    facts = {
        "run file": str(report.path),
        "finished": report.footer.finished_at.isoformat()
        if report.footer
        else "not finished (no footer)",
    }
    section.about = [
        key_values("Run", facts),
        key_values("Header", report.header, skip=("kind", "host")),
        key_values("Host", report.header.host),
    ]
    return section


def _run_facts(label: str, report: VisionReport) -> Grid:
    header = report.run.header
    return key_values(
        label,
        {
            "run file": str(report.path),
            "started": header.started_at.isoformat(),
            "obench": header.tool_version,
            "model": header.settings.model,
            "targets": "; ".join(
                f"{t.name} {t.url} {t.version or ''} {(t.model_digest or '')[:12]}".strip()
                for t in header.targets
            ),
            "rounds": report.summary.stop.rounds if report.summary.stop else "–",
        },
    )


def compare_section(report: ComparedRuns, anchor: str) -> Section:
    k = kind(report)
    c = report.comparison
    section = Section(anchor, k.title, k.verdict, warnings=list(c.warnings))
    for i, t in enumerate(c.targets):
        chart = forest_chart(
            t.metrics,
            c.images,
            target=f"{t.target} in B",
            baseline=f"{t.target} in A",
            key=f"change-{i}",
            title=f"{t.target}: run B against run A, per image and overall",
        )
        quality = quality_chart(
            t.quality,
            target=f"{t.target} in B",
            baseline=f"{t.target} in A",
            key=f"quality-{i}",
            identical=(t.identical_reply_rate, t.identical_reply_pairs),
        )
        section.charts += [c for c in (chart, quality) if c is not None]
    _terminal(section, k.render)
    section.about = [_run_facts("Run A (the baseline)", report.a), _run_facts("Run B", report.b)]
    return section


SECTION_BUILDERS: dict[type, Callable[[Any, str], Section]] = {
    VisionReport: vision_section,
    LoadReport: load_section,
    InferReport: _cnn_section,
    ParallelReport: _cnn_section,
    TrainReport: _cnn_section,
    ComparedRuns: compare_section,
}


def section(report: Report | ComparedRuns, anchor: str) -> Section:
    return SECTION_BUILDERS[type(report)](report, anchor)


def _shown(value: Any) -> Any:
    """Every plain string the template prints, with control characters made visible (escaping
    follows); Markup built here is already safe."""
    return value if isinstance(value, Markup) or not isinstance(value, str) else visible(value)


def _lines(text: str) -> Markup:
    """A reply for <pre>: its line breaks kept, every other control character made visible."""
    return Markup("\n").join(escape(visible(line)) for line in text.splitlines())


def _environment() -> Environment:
    env = Environment(
        autoescape=select_autoescape(default=True, default_for_string=True), finalize=_shown
    )
    env.filters["preview"] = lambda text: clip(visible(text), REPLY_PREVIEW_CHARS)
    env.filters["lines"] = _lines
    return env


def render_html(reports: Sequence[Report | ComparedRuns], *, title: str = "obench report") -> str:
    """The whole page for one or more run files."""
    sections = [section(r, f"run-{i + 1}") for i, r in enumerate(reports)]
    template = _environment().from_string(
        files("ollama_bench.views").joinpath("report.html.j2").read_text(encoding="utf-8")
    )
    return template.render(
        title=title,
        sections=sections,
        files=sum(2 if isinstance(r, ComparedRuns) else 1 for r in reports),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )
