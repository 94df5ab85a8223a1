"""CSV: one row per request (CNN: per batch, pass or epoch), and one row per summary line (load:
per target and step).

Pure serializers of the run's records and summary. Durations are seconds (`_s`; run files keep
nanoseconds); a missing value is an empty cell, never 0. Cells that hold text from a server or a
run file are made inert for spreadsheets: control characters are shown as `\\x1b`-style escapes,
and a cell that starts like a formula (`=`, `+`, `-`, `@`) gets a leading `'` (OWASP's advice
against CSV injection); numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from ollama_bench.load.records import LoadSample, StepSpec
from ollama_bench.load.summary import LoadTargetSummary, queueing_ns
from ollama_bench.models import Sample
from ollama_bench.runfiles import (
    InferReport,
    LoadReport,
    ParallelReport,
    Report,
    TrainReport,
    VisionReport,
)
from ollama_bench.untrusted import visible

Row = dict[str, Any]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One CSV cell.

    >>> [cell(None), cell(True), cell(0.25), cell("=1+2"), cell("a\\x1bb")]
    ['', 'true', '0.25', "'=1+2", 'a\\\\x1bb']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = visible(str(value))
    return "'" + text if text.startswith(_FORMULA) else text


def flat(record: Mapping[str, Any], prefix: str = "") -> Row:
    """A nested record as dotted columns; `_ns` integers as `_s` seconds, a `ci95` pair as
    `.low`/`.high`, other lists as JSON text."""
    row: Row = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            row |= flat(value, f"{name}.")
        elif key.endswith("_ns") and isinstance(value, int) and not isinstance(value, bool):
            row[name.removesuffix("_ns") + "_s"] = value / 1e9
        elif key == "ci95":
            low, high = value if isinstance(value, list | tuple) else (None, None)
            row |= {f"{name}.low": low, f"{name}.high": high}
        elif isinstance(value, list | tuple):
            row[name] = json.dumps(value, ensure_ascii=False)
        else:
            row[name] = value
    return row


def _seconds(value: int | None) -> float | None:
    return None if value is None else value / 1e9


def vision_sample_row(s: Sample, fields: Sequence[str]) -> Row:
    server = s.timing.server
    validation = s.validation
    row: Row = {
        "seq": s.seq,
        "segment": s.segment,
        "target": s.target,
        "image": s.image,
        "image_sha256": s.image_sha256,
        "phase": s.phase,
        "round": s.repeat,
        "started_at": s.started_at.isoformat(),
        "ok": s.ok,
        "error_kind": s.error.kind if s.error else None,
        "error": s.error.message if s.error else None,
        "latency_s": _seconds(s.timing.latency_ns) if s.ok else None,
        "ttft_s": _seconds(s.timing.ttft_ns),
        "load_duration_s": _seconds(server.load_duration_ns) if server else None,
        "prompt_eval_count": server.prompt_eval_count if server else None,
        "prompt_eval_duration_s": _seconds(server.prompt_eval_duration_ns) if server else None,
        "eval_count": server.eval_count if server else None,
        "eval_duration_s": _seconds(server.eval_duration_ns) if server else None,
        "total_duration_s": _seconds(server.total_duration_ns) if server else None,
        "prompt_tokens_per_s": s.timing.prompt_tokens_per_s,
        "decode_tokens_per_s": s.timing.decode_tokens_per_s,
        "gap_s": _seconds(s.timing.gap_ns),
        "cold": s.timing.cold,
        "suspicious": "; ".join(s.timing.suspicious) or None,
        "done_reason": server.done_reason if server else None,
        "extraction": validation.extraction if validation else None,
        "valid": validation.valid if validation else None,
        "validation_errors": "; ".join(
            f"{e.path or '(reply)'}: {e.message}" for e in validation.errors
        )
        if validation and validation.errors
        else None,
    }
    for field in fields:
        row[f"score.{field}"] = s.score.get(field) if s.score else None
    return row


def load_sample_row(s: LoadSample, steps: Mapping[int, StepSpec]) -> Row:
    """A request of a load run: its step, when it was due and sent (seconds after the step
    started), the requests in flight then, and what came back."""
    spec = steps.get(s.step) if s.step is not None else None
    server = s.timing.server if s.ok else None
    queue = queueing_ns(s.timing) if s.ok else None
    return {
        "seq": s.seq,
        "target": s.target,
        "step": s.step,
        "step_label": spec.label if spec else "warm-up",
        "mode": spec.mode if spec else None,
        "concurrency": spec.concurrency if spec else None,
        "rate_per_s": spec.rate_per_s if spec else None,
        "phase": s.phase,
        "image": s.image,
        "image_sha256": s.image_sha256,
        "started_at": s.started_at.isoformat(),
        "scheduled_s": _seconds(s.scheduled_ns),
        "sent_s": _seconds(s.sent_ns),
        "lag_s": _seconds(s.lag_ns),
        "in_flight": s.in_flight,
        "ok": s.ok,
        "error_kind": s.error.kind if s.error else None,
        "error": s.error.message if s.error else None,
        "latency_s": _seconds(s.timing.latency_ns) if s.ok else None,
        "ttft_s": _seconds(s.timing.ttft_ns) if s.ok else None,
        "queue_s": _seconds(queue),
        "load_duration_s": _seconds(server.load_duration_ns) if server else None,
        "prompt_eval_count": server.prompt_eval_count if server else None,
        "prompt_eval_duration_s": _seconds(server.prompt_eval_duration_ns) if server else None,
        "eval_count": server.eval_count if server else None,
        "eval_duration_s": _seconds(server.eval_duration_ns) if server else None,
        "total_duration_s": _seconds(server.total_duration_ns) if server else None,
        "decode_tokens_per_s": s.timing.decode_tokens_per_s if s.ok else None,
        "cold": s.timing.cold,
        "suspicious": "; ".join(s.timing.suspicious) or None,
        "done_reason": server.done_reason if server else None,
        "valid": s.validation.valid if s.validation else None,
    }


def load_summary_rows(target: LoadTargetSummary) -> list[Row]:
    """A row per step of a target, with `knee` true on the step where it saturated (per mode);
    a target with no step (unusable) still gets a row saying why."""
    head: Row = {
        "target": target.name,
        "url": target.url,
        "version": target.version,
        "usable": target.usable,
        "error": target.error,
    }
    knees = {k.step for k in target.knees if k.step is not None}
    reasons = {k.mode: k.reason for k in target.knees}
    rows = []
    for s in target.steps:
        step = dict(_dump(s))
        for part in ("lag_s", "itl", "energy"):  # a record or None: its columns when present
            if step[part] is None:
                del step[part]
        knee = {"knee": s.step in knees, "knee_reason": reasons.get(s.mode)}
        rows.append(head | {"step": s.step, "label": s.label} | knee | flat(step))
    return rows or [head]


def sample_rows(report: Report) -> list[Row]:
    if isinstance(report, LoadReport):
        steps = {spec.index: spec for spec in report.run.header.steps}
        return [load_sample_row(s, steps) for s in report.run.samples]
    if isinstance(report, VisionReport):
        fields = (
            [k for k in report.summary.targets[0].accuracy if k != "overall"]
            if report.summary.targets
            else []
        )
        fields.append("overall")
        return [vision_sample_row(s, fields) for s in report.run.samples]
    return [flat(s.model_dump(mode="json")) for s in report.samples]


def _dump(record: BaseModel, **exclude: Any) -> Mapping[str, Any]:
    return record.model_dump(mode="json", exclude=exclude or None)


def summary_rows(report: Report) -> list[Row]:
    """Vision: a row per target with its speed-ups over the baseline (`vs_baseline.…`); load:
    per target and step; CNN inference: per device, threads and batch size; parallel: per arm;
    training: per run."""
    if isinstance(report, LoadReport):
        return [row for t in report.summary.targets for row in load_summary_rows(t)]
    if isinstance(report, VisionReport):
        compared = {c.target: c for c in report.summary.comparisons}
        rows = []
        for t in report.summary.targets:
            row = flat(_dump(t))
            c = compared.get(t.name)
            if c is not None:
                metrics = {"__all__": {"images": True}}
                row |= flat(_dump(c, images=True, metrics=metrics, target=True), "vs_baseline.")
            rows.append(row)
        return rows
    if isinstance(report, InferReport):
        speedups = {(s.device, s.threads, s.batch_size): s for s in report.summary.speedups}
        rows = []
        for r in report.summary.results:
            row = flat(_dump(r))
            s = speedups.get((r.device, r.threads, r.batch_size))
            if s is not None:
                row |= flat(_dump(s, device=True, threads=True, batch_size=True), "vs_cpu.")
            rows.append(row)
        return rows
    if isinstance(report, ParallelReport):
        return [flat(_dump(a)) for a in report.summary.arms]
    if isinstance(report, TrainReport):
        return [flat(_dump(r)) for r in report.summary.runs]
    raise TypeError(f"no CSV for {type(report).__name__}")


def to_csv(rows: Iterable[Row]) -> str:
    """Rows as CSV text; the columns are every key met, in the order first met."""
    rows = list(rows)
    columns: dict[str, None] = {}
    for row in rows:
        columns |= dict.fromkeys(row)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([cell(c) for c in columns])
    writer.writerows([cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue()
