"""Per kind of run, what every format needs from it: its summary record, the terminal renderer,
the opening sentence and a title. The one place the exporters dispatch on the kind of run.

Run files are untrusted input, so every renderer here is given a printable copy of its summary
(untrusted.py), CNN ones included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from ollama_bench.cnn.report import render_infer, render_parallel, render_train
from ollama_bench.runfiles import (
    ComparedRuns,
    InferReport,
    LoadReport,
    ParallelReport,
    Report,
    TrainReport,
    VisionReport,
)
from ollama_bench.untrusted import sanitised
from ollama_bench.views.compare_tables import render_compare
from ollama_bench.views.load_tables import render_load
from ollama_bench.views.tables import render
from ollama_bench.views.verdicts import (
    compare_verdict,
    infer_verdict,
    load_verdict,
    parallel_verdict,
    train_verdict,
    vision_verdict,
)


@dataclass(frozen=True)
class Kind:
    name: str  # as run files and --json name it
    summary: BaseModel
    render: Callable[[Console], None]  # the terminal's tables and notes
    verdict: str
    title: str


def _safe(
    render_fn: Callable[[Any, Console], None], summary: BaseModel
) -> Callable[[Console], None]:
    return lambda console: render_fn(sanitised(summary), console)


def kind(report: Report | ComparedRuns) -> Kind:
    if isinstance(report, ComparedRuns):
        c = report.comparison
        return Kind(
            "compare",
            c,
            lambda console: render_compare(c, console),  # it sanitises its input itself
            compare_verdict(c),
            f"compare · {c.scenario} · A: {report.a.path.name} · B: {report.b.path.name}",
        )
    name = report.path.name
    if isinstance(report, VisionReport):
        s = report.summary
        return Kind(
            "vision",
            s,
            lambda console: render(s, console),  # render sanitises its input itself
            vision_verdict(s),
            f"vision · {s.scenario} · {s.model} · {name}",
        )
    if isinstance(report, LoadReport):
        ld = report.summary
        return Kind(
            "load",
            ld,
            lambda console: render_load(ld, console),  # render_load sanitises its input itself
            load_verdict(ld),
            f"load · {ld.scenario} · {ld.model} · {name}",
        )
    if isinstance(report, InferReport):
        i = report.summary
        return Kind(
            "cnn-infer",
            i,
            _safe(render_infer, i),
            infer_verdict(i),
            f"cnn infer · {i.model} · {name}",
        )
    if isinstance(report, ParallelReport):
        p = report.summary
        return Kind(
            "cnn-parallel",
            p,
            _safe(render_parallel, p),
            parallel_verdict(p),
            f"cnn parallel · {p.model} · {name}",
        )
    if isinstance(report, TrainReport):
        t = report.summary
        return Kind(
            "cnn-train",
            t,
            _safe(render_train, t),
            train_verdict(t),
            f"cnn train · {t.model} · {t.dataset} · {name}",
        )
    raise TypeError(f"no view for {type(report).__name__}")
