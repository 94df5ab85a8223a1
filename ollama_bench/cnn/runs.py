"""One benchmark end to end: header, samples flushed to the run file as they come, footer, summary.

The only CNN module that touches the store and the progress bar; measuring lives in infer.py,
parallel.py and train.py, figures in summary.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from pydantic import BaseModel
from rich.console import Console
from rich.progress import Progress

from ollama_bench import __version__
from ollama_bench.cnn import data as training_data
from ollama_bench.cnn import devices as _devices
from ollama_bench.cnn import infer, nets, optimize, parallel, train
from ollama_bench.cnn.flops import largest_activation_bytes
from ollama_bench.cnn.parallel_summary import ParallelSummary, summarise_parallel
from ollama_bench.cnn.records import (
    DeviceInfo,
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
from ollama_bench.ops.host import host_info
from ollama_bench.store import RunWriter, run_path
from ollama_bench.views.tables import progress_bar


class _Recorder:
    """Observer: every sample to the run file (flushed), to the list, and to the progress bar."""

    def __init__(self, writer: RunWriter, progress: Progress, total: int) -> None:
        self.writer, self.progress = writer, progress
        self.task = progress.add_task("starting", total=total)
        self.samples: list[BaseModel] = []

    def started(self, description: str) -> None:
        self.progress.update(self.task, description=description)

    def finished(self, sample: BaseModel) -> None:
        self.writer.append(sample)
        self.samples.append(sample)
        self.progress.advance(self.task)


def _footer(
    writer: RunWriter, started_at: datetime, interrupted: bool, notes: dict[str, object]
) -> Footer:
    now = datetime.now(UTC)
    return Footer(
        finished_at=now,
        samples=writer.records,
        interrupted=interrupted,
        elapsed_s=(now - started_at).total_seconds(),
        notes=notes,
    )


@dataclass
class _Recorded:
    samples: list[BaseModel]
    path: Path
    interrupted: bool


def _record(
    header: BaseModel,
    path: Path,
    steps: int,
    work: Callable[[_Recorder], None],
    console: Console,
    quiet: bool,
    notes: dict[str, object] | None = None,
) -> _Recorded:
    """Run `work` with a recorder that writes each sample to a new run file as it comes.

    Ctrl-C ends the run early: the samples so far are kept, the footer says `interrupted`.
    `notes` (filled in by `work`) go into the footer.
    """
    started_at = datetime.now(UTC)
    writer = RunWriter(path, header)
    interrupted = True
    bar = progress_bar(console)
    bar.disable = quiet
    with bar:
        recorder = _Recorder(writer, bar, steps)
        try:
            work(recorder)
            interrupted = False
        except KeyboardInterrupt:
            console.print("[yellow]interrupted:[/yellow] finished samples are in the run file")
        finally:
            writer.close(_footer(writer, started_at, interrupted, notes or {}))
    return _Recorded(recorder.samples, writer.path, interrupted)


def _print_devices(found: list[DeviceInfo], console: Console) -> None:
    for info in found:
        if info.available:
            console.print(f"[green]✓[/green] {info.name}: {info.description}", highlight=False)
        else:
            console.print(f"[dim]✗ {info.name}: {info.reason}[/dim]", highlight=False)


def plan_infer(
    *,
    model: str,
    devices: str | None,
    batch_sizes: tuple[int, ...],
    warmup: int,
    iterations: int,
    threads: tuple[int, ...] | None,
    opt: str,
) -> infer.InferPlan:
    """Check the options of `obench cnn infer` and fill in the defaults that depend on the host."""
    if model not in nets.MODEL_NAMES:
        raise UsageError(f"unknown model {model!r}", f"choose from {', '.join(nets.MODEL_NAMES)}")
    requested = None if devices is None else [d.strip() for d in devices.split(",") if d.strip()]
    return infer.InferPlan(
        model=model,
        devices=tuple(_devices.choose(requested, _devices.detect())),
        batch_sizes=batch_sizes,
        threads=threads or (_devices.physical_cores(),),
        warmup=warmup,
        iterations=iterations,
        optimizations=optimize.parse(opt),
    )


@dataclass
class InferOutcome:
    summary: InferSummary
    samples: list[InferSample]


def run_infer(plan: infer.InferPlan, out: Path, console: Console, quiet: bool) -> InferOutcome:
    """Measure the GEMM yardstick, then every batch of the plan, into a new run file."""
    spec = nets.build(plan.model, seed=plan.seed)
    found = _devices.detect()
    _print_devices(found, console)
    console.print(
        f"CPU intra-op threads: {', '.join(map(str, plan.threads))} "
        f"(torch.set_num_threads; {_devices.physical_cores()} physical cores here; --threads)"
    )
    prepared = infer.prepare_all(plan, spec)
    console.print(f"measuring the fp32 2048×2048 matmul on {', '.join(plan.devices)} …")
    started_at = datetime.now(UTC)
    header = InferHeader(
        tool_version=__version__,
        run_id=uuid.uuid4().hex,
        started_at=started_at,
        model=infer.model_info(spec),
        torch_version=torch.__version__,
        devices=found,
        used_devices=list(plan.devices),
        threads=list(plan.threads),
        batch_sizes=list(plan.batch_sizes),
        warmup=plan.warmup,
        iterations=plan.iterations,
        optimizations=list(plan.optimizations),
        applied_optimizations={d: list(p.applied) for d, p in prepared.items()},
        matmul=infer.measure_matmul(plan),
        host=host_info(),
    )
    path = run_path(out, f"cnn-infer-{plan.model}", started_at, header.run_id)
    recorded = _record(
        header, path, plan.steps(), lambda r: infer.run(plan, spec, prepared, r), console, quiet
    )
    samples = [s for s in recorded.samples if isinstance(s, InferSample)]
    summary = summarise_infer(header, samples, str(recorded.path), interrupted=recorded.interrupted)
    return InferOutcome(summary, samples)


def run_parallel(
    *,
    images: int,
    workers: int,
    threads: int | None,
    warmup: int,
    repetitions: int,
    opt: str,
    oversubscribed: bool,
    out: Path,
    console: Console,
    quiet: bool,
) -> ParallelSummary:
    """ResNet-18 at batch 1: sequential calls, a thread pool, one batched call, into a run file."""
    plan = parallel.ParallelPlan(
        images=images,
        workers=workers,
        threads=threads or _devices.physical_cores(),
        warmup=warmup,
        repetitions=repetitions,
        optimizations=optimize.parse(opt),
        oversubscribed=oversubscribed,
    )
    spec = nets.build("resnet18")
    started_at = datetime.now(UTC)
    header = ParallelHeader(
        tool_version=__version__,
        run_id=uuid.uuid4().hex,
        started_at=started_at,
        model=infer.model_info(spec),
        torch_version=torch.__version__,
        images=plan.images,
        largest_activation_bytes=largest_activation_bytes(spec.module, spec.image_shape),
        pool_workers=plan.workers,
        arm_threads=plan.arm_threads(),
        optimizations=list(plan.optimizations),
        warmup=plan.warmup,
        repetitions=plan.repetitions,
        host=host_info(),
    )
    path = run_path(out, "cnn-parallel-resnet18", started_at, header.run_id)
    recorded = _record(
        header, path, plan.steps(), lambda r: parallel.run(plan, spec, r), console, quiet
    )
    samples = [s for s in recorded.samples if isinstance(s, ParallelSample)]
    return summarise_parallel(header, samples, str(recorded.path), interrupted=recorded.interrupted)


def run_train(
    *,
    data: Path | None,
    workers: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    target_accuracy: float,
    device: str,
    threads: int | None,
    seed: int,
    out: Path,
    console: Console,
    quiet: bool,
) -> TrainSummary:
    """Train on digits (or a folder); with workers > 1, first on 1 worker, then with DDP."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        reason = next(d.reason for d in _devices.detect() if d.name == "cuda")
        raise UsageError(f"--device cuda: {reason}", "use --device cpu")
    elif device not in ("cpu", "cuda"):
        raise UsageError(f"--device {device!r}: choose auto, cpu or cuda")
    dataset = training_data.digits(seed) if data is None else training_data.image_folder(data)
    plan = train.TrainPlan(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        device=device,
        threads=threads or _devices.physical_cores(),
    )
    plan.check(workers)
    order = [1, workers] if workers > 1 else [1]
    name, model = train.model_for(dataset, seed)
    started_at = datetime.now(UTC)
    header = TrainHeader(
        tool_version=__version__,
        run_id=uuid.uuid4().hex,
        started_at=started_at,
        model=name,
        params=nets.count_parameters(model),
        dataset=dataset.name,
        classes=len(dataset.classes),
        train_size=len(dataset.y_train),
        test_size=len(dataset.y_test),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        target_accuracy=target_accuracy,
        seed=seed,
        workers=order,
        device=device,
        threads={_workers_label(w): plan.threads_per_worker(w) for w in order},
        torch_version=torch.__version__,
        host=host_info(),
    )
    identical: list[bool | None] = [None]
    notes: dict[str, object] = {}  # the footer's: a report read from the file shows it too

    def work(recorder: _Recorder) -> None:
        seq = [0]

        def emit(epoch: train.Epoch) -> None:
            seq[0] += 1
            recorder.started(f"{_workers_label(epoch.workers)} · epoch {epoch.epoch}/{epochs}")
            recorder.finished(EpochSample(seq=seq[0], **vars(epoch)))

        for count in order:
            recorder.started(f"{_workers_label(count)} · starting")
            if count == 1:
                train.train_one(plan, dataset, emit)
            else:
                identical[0] = train.train_distributed(plan, dataset, count, emit).weights_identical
                notes["weights_identical"] = identical[0]

    path = run_path(out, "cnn-train", started_at, header.run_id)
    recorded = _record(header, path, epochs * len(order), work, console, quiet, notes)
    samples = [s for s in recorded.samples if isinstance(s, EpochSample)]
    if not samples:
        raise UsageError("training was interrupted before the first epoch finished")
    return summarise_train(
        header,
        samples,
        str(recorded.path),
        interrupted=recorded.interrupted,
        weights_identical=identical[0],
    )


def _workers_label(workers: int) -> str:
    return f"{workers} worker{'s' if workers > 1 else ''}"
