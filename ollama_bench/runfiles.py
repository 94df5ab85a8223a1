"""Any run file read back as a typed run with its summary: what every view of a stored run
renders, whichever command wrote it.

The first line says the kind: a vision header has a `scenario`, a load or CNN header a
`benchmark` (`load`, `cnn-infer`, `cnn-parallel`, `cnn-train`). Each kind is validated with its
own records and summarised by its own summary module, exactly as the command that wrote it did;
views dispatch on the type returned. A file of no known kind is a one-line UsageError (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ollama_bench.cnn.parallel_summary import ParallelSummary, summarise_parallel
from ollama_bench.cnn.records import (
    EpochSample,
    Footer,
    InferHeader,
    InferSample,
    ParallelHeader,
    ParallelSample,
    TrainHeader,
)
from ollama_bench.cnn.summary import InferSummary, summarise_infer
from ollama_bench.cnn.train_summary import TrainSummary, summarise_train
from ollama_bench.errors import UsageError
from ollama_bench.load.records import LoadFooter, LoadRun, load_run_of
from ollama_bench.load.summary import LoadSummary, summarise_load
from ollama_bench.models import RunFooter
from ollama_bench.store import (
    VisionRun,
    invalid_record,
    is_vision_header,
    read_lines,
    vision_run_of,
)
from ollama_bench.vision.compare import RunComparison, compare_runs
from ollama_bench.vision.detail import VisionDetail, detail
from ollama_bench.vision.summary import RunSummary, summarise

KINDS = ("vision", "load", "cnn-infer", "cnn-parallel", "cnn-train")


@dataclass(frozen=True)
class VisionReport:
    path: Path
    run: VisionRun
    summary: RunSummary
    detail: VisionDetail


@dataclass(frozen=True)
class LoadReport:
    path: Path
    run: LoadRun
    summary: LoadSummary


@dataclass(frozen=True)
class InferReport:
    path: Path
    header: InferHeader
    samples: list[InferSample]
    footer: Footer | None
    summary: InferSummary


@dataclass(frozen=True)
class ParallelReport:
    path: Path
    header: ParallelHeader
    samples: list[ParallelSample]
    footer: Footer | None
    summary: ParallelSummary


@dataclass(frozen=True)
class TrainReport:
    path: Path
    header: TrainHeader
    samples: list[EpochSample]
    footer: Footer | None
    summary: TrainSummary


Report = VisionReport | LoadReport | InferReport | ParallelReport | TrainReport


#: The name of each report's kind, as KINDS spells it.
KIND_OF: dict[type, str] = {
    VisionReport: "vision",
    LoadReport: "load",
    InferReport: "cnn-infer",
    ParallelReport: "cnn-parallel",
    TrainReport: "cnn-train",
}


def kind_of(record: dict[str, Any]) -> str | None:
    """The kind of run a header line starts, or None when it is no header obench writes."""
    if is_vision_header(record):
        return "vision"
    benchmark = record.get("benchmark")
    if record.get("kind") == "header" and benchmark in KINDS:
        return str(benchmark)
    return None


def _interrupted(footer: RunFooter | LoadFooter | Footer | None) -> bool:
    """A run file without a footer was cut short too (killed, or the disk filled)."""
    return footer is None or footer.interrupted


def vision_summary(run: VisionRun, path: Path) -> RunSummary:
    """The summary `obench vision` printed, again from the file (resumed segments as one run)."""
    footer = run.footer
    return summarise(
        run.header,
        run.samples,
        str(path),
        interrupted=_interrupted(footer),
        placements=footer.placements if footer else [],
        utilisation=run.utilisation,
        stop=footer.stop if footer else None,
        segments=len(run.segments) + 1,
    )


def load_summary(run: LoadRun, path: Path) -> LoadSummary:
    """The summary `obench load` printed, again from the file (one without a footer too)."""
    footer = run.footer
    return summarise_load(
        run.header,
        run.samples,
        str(path),
        interrupted=_interrupted(footer),
        utilisation=run.utilisation,
        placements=footer.placements if footer else [],
    )


def _records(
    lines: list[dict[str, Any]], path: Path, header: type[BaseModel], sample: type[BaseModel]
) -> tuple[Any, list[Any], Footer | None]:
    try:
        footers = [Footer.model_validate(r) for r in lines[1:] if r.get("kind") == "footer"]
        return (
            header.model_validate(lines[0]),
            [sample.model_validate(r) for r in lines[1:] if r.get("kind") == "sample"],
            footers[-1] if footers else None,
        )
    except ValidationError as exc:
        raise invalid_record(path, exc) from None


def read_report(path: Path) -> Report:
    """Read and summarise the run file at `path`, whatever its kind."""
    lines = read_lines(path)
    kind = kind_of(lines[0]) if lines else None
    if kind == "vision":
        run = vision_run_of(lines, path)
        return VisionReport(path, run, vision_summary(run, path), detail(run.header, run.samples))
    if kind == "load":
        load_run = load_run_of(lines, path)
        return LoadReport(path, load_run, load_summary(load_run, path))
    if kind == "cnn-infer":
        h, samples, footer = _records(lines, path, InferHeader, InferSample)
        summary = summarise_infer(h, samples, str(path), interrupted=_interrupted(footer))
        return InferReport(path, h, samples, footer, summary)
    if kind == "cnn-parallel":
        h, samples, footer = _records(lines, path, ParallelHeader, ParallelSample)
        summary_p = summarise_parallel(h, samples, str(path), interrupted=_interrupted(footer))
        return ParallelReport(path, h, samples, footer, summary_p)
    if kind == "cnn-train":
        h, samples, footer = _records(lines, path, TrainHeader, EpochSample)
        if not samples:
            raise UsageError(f"{path}: no training epoch finished", "there is nothing to report")
        identical = footer.notes.get("weights_identical") if footer else None
        summary_t = summarise_train(
            h,
            samples,
            str(path),
            interrupted=_interrupted(footer),
            weights_identical=identical if isinstance(identical, bool) else None,
        )
        return TrainReport(path, h, samples, footer, summary_t)
    raise UsageError(
        f"{path} is not an obench run file: its first line is no run header",
        f"pass a file that obench vision, load or cnn wrote ({', '.join(KINDS)})",
    )


@dataclass(frozen=True)
class ComparedRuns:
    """Two vision runs of one scenario and the change from the first to the second."""

    a: VisionReport
    b: VisionReport
    comparison: RunComparison


def compare_files(path_a: Path, path_b: Path, *, force: bool = False) -> ComparedRuns:
    """Read two vision run files and compare the second with the first (see vision/compare.py)."""
    reports = [read_report(path) for path in (path_a, path_b)]
    for report in reports:
        if not isinstance(report, VisionReport):
            kind = KIND_OF[type(report)]
            raise UsageError(
                f"{report.path} is a {kind} run: obench compare compares vision runs",
                "compare two files that obench vision wrote",
            )
    a, b = reports
    assert isinstance(a, VisionReport) and isinstance(b, VisionReport)
    return ComparedRuns(a, b, compare_runs(a.run, b.run, a.summary, b.summary, force=force))
