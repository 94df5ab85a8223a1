"""Rich tables and JSON for the CNN benchmarks: rendering only; figures come from summaries."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from ollama_bench.cnn.parallel_summary import ParallelSummary
from ollama_bench.cnn.summary import InferSummary
from ollama_bench.cnn.train_summary import TrainSummary
from ollama_bench.views.tables import fmt_ci, fmt_rate, fmt_seconds, fmt_verdict


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _table(title: str, *, tight: bool = False) -> Table:
    """Borderless, so that nine or ten columns fit in 80 characters (tight: one space apart)."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0 if tight else 1),
        pad_edge=False,
        collapse_padding=True,
    )


def infer_tables(summary: InferSummary) -> list[Table]:
    counts = {r.n for r in summary.results}
    n = f"n = {counts.pop()} batches each" if len(counts) == 1 else "n in the last column"
    results = _table(f"Measured batches ({n}); latency is per batch", tight=not n.startswith("n ="))
    columns = ["device", "threads", "batch", "images/s", "latency\nmedian", "latency\np90"]
    columns += ["GFLOP/s", "of\nmatmul", "of\noneDNN"]
    if not n.startswith("n ="):
        columns.append("n")
    for column in columns:
        results.add_column(column, justify="left" if column == "device" else "right")
    for r in sorted(summary.results, key=lambda r: (r.device != "cpu", r.device, r.threads)):
        cells = [
            r.device,
            str(r.threads),
            str(r.batch_size),
            fmt_rate(r.images_per_s),
            fmt_seconds(r.batch_latency_s.median),
            fmt_seconds(r.batch_latency_s.p90),
            f"{r.gflops_per_s:.0f}",
            _share(r.fraction_of_matmul),
            _share(r.fraction_of_onednn_gemm),
        ]
        results.add_row(*cells, *([] if n.startswith("n =") else [str(r.n)]))
    tables = [results]
    if summary.speedups:
        speed = _table(
            f"Speed-up over the CPU with {summary.threads} threads at the same batch size: "
            "ratio of median batch latencies"
        )
        for column in ("device", "threads", "batch", "speed-up", "95% CI", "verdict"):
            speed.add_column(column, justify="right" if column[0] in "s9" else "left")
        for s in summary.speedups:
            speed.add_row(
                s.device,
                str(s.threads),
                str(s.batch_size),
                f"{s.speedup_vs_cpu:.2f}×",
                fmt_ci(s.ci95),
                fmt_verdict(s.verdict),
            )
        tables.append(speed)
    return tables


def render_infer(summary: InferSummary, console: Console) -> None:
    gflop = summary.flops_per_image / 1e9
    applied = {d: ", ".join(o) or "none" for d, o in summary.applied_optimizations.items()}
    opts = (
        next(iter(applied.values()))
        if len(set(applied.values())) == 1
        else "; ".join(f"{d}: {o}" for d, o in applied.items())
    )
    console.print(
        f"[bold]{summary.model}[/bold] · {summary.params:,} parameters · "
        f"{gflop:.3g} GFLOP per image ({summary.flops_counted}) · torch {summary.torch_version}"
    )
    console.print(f"weights: {summary.weights} · optimisations: {opts} (--no-opt: none)")
    for m in summary.matmul:
        onednn = f", oneDNN {m.onednn_gflops_per_s:.0f}" if m.onednn_gflops_per_s else ""
        console.print(
            f"fp32 {m.size}² GEMM on {m.device}, {m.threads} threads (best of 9): "
            f"torch.matmul {m.gflops_per_s:.0f}{onednn} GFLOP/s"
        )
    if summary.interrupted:
        console.print("[yellow]interrupted: partial results[/yellow]")
    for table in infer_tables(summary):
        console.print(table)
    for warning in summary.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")
    console.print(f"run file: {summary.run_file}")


def render_parallel(summary: ParallelSummary, console: Console) -> None:
    console.print(
        f"[bold]{summary.model}[/bold] at batch 1 · {summary.images} images per pass · "
        f"{summary.threads} cores used · random weights · optimisations: "
        f"{', '.join(summary.optimizations) or 'none'}"
    )
    if summary.interrupted:
        console.print("[yellow]interrupted: partial results[/yellow]")
    passes = {a.passes for a in summary.arms}
    table = _table(
        f"Arms: the same {summary.images} images per pass, warmed up, "
        f"{'/'.join(map(str, sorted(passes)))} passes each, interleaved; "
        "threads = workers × intra-op threads per call"
    )
    for column in ("arm", "threads", "pass\nmedian", "images/s", "vs\nseq.", "95% CI", "verdict"):
        table.add_column(column, justify="left" if column in ("arm", "verdict") else "right")
    for a in summary.arms:
        table.add_row(
            a.arm,
            f"{a.workers} × {a.intra_op_threads}",
            fmt_seconds(a.pass_time_s.median),
            fmt_rate(a.images_per_s),
            f"{a.vs_sequential:.2f}×",
            fmt_ci(a.ci95, "–"),
            fmt_verdict(a.verdict),
        )
    console.print(table)
    for line in summary.explanation:
        console.print(f"• {line}")
    for warning in summary.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")
    console.print(f"run file: {summary.run_file}")


def _maybe_s(value: float | None) -> str:
    return "not reached" if value is None else fmt_seconds(value)


def render_train(summary: TrainSummary, console: Console) -> None:
    console.print(
        f"[bold]{summary.model}[/bold] · {summary.params:,} parameters · {summary.dataset}: "
        f"{summary.train_size} train / {summary.test_size} test images, {summary.classes} "
        f"classes · {summary.device} · batch {summary.batch_size} (split across workers) · "
        f"Adam lr {summary.learning_rate:g}, cosine decay · {summary.epochs} epochs"
    )
    if summary.interrupted:
        console.print("[yellow]interrupted: partial results[/yellow]")
    table = _table(
        f"Training runs (epoch times exclude evaluation; target {summary.target_accuracy:.0%})"
    )
    for column in (
        "workers",
        "threads\neach",
        "epoch\nmedian",
        "epoch\np90",
        "train\ntime",
        "time to\ntarget",
        "target at\nepoch",
        "final test\naccuracy",
    ):
        table.add_column(column, justify="right")
    for run in summary.runs:
        table.add_row(
            str(run.workers),
            str(run.threads_per_worker),
            fmt_seconds(run.epoch_time_s.median),
            fmt_seconds(run.epoch_time_s.p90),
            fmt_seconds(run.train_time_s),
            _maybe_s(run.time_to_target_s),
            "–" if run.epoch_reaching_target is None else str(run.epoch_reaching_target),
            f"{run.test_accuracy:.1%}",
        )
    console.print(table)
    if summary.scaling is not None:
        s = summary.scaling
        console.print(
            f"scaling, {s.workers} workers vs 1 (median epoch times): {s.speedup:.2f}× "
            f"(95% CI {fmt_ci(s.ci95, '–')}, {fmt_verdict(s.verdict)}), "
            f"efficiency {s.efficiency:.0%}"
        )
    if summary.weights_identical is not None:
        same = "identical" if summary.weights_identical else "[red]DIFFERENT[/red]"
        console.print(f"final weights of the {summary.workers} DDP workers: {same}")
    for line in summary.explanation:
        console.print(f"• {line}")
    for warning in summary.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")
    console.print(f"run file: {summary.run_file}")
