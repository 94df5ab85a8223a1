"""From training epochs to figures: epoch times, time to target accuracy, scaling. No I/O or torch.

Time to target = the training time (evaluation excluded) of every epoch up to and including the
first whose test accuracy reaches the target. Scaling = median 1-worker epoch time / median
N-worker epoch time, with stats.speedup's CI.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, Field

from ollama_bench.cnn.records import EpochSample, TrainHeader
from ollama_bench.cnn.summary import LatencyStats, latency_stats
from ollama_bench.stats import speedup


class TrainRunResult(BaseModel):
    """One training: every epoch of it with the given number of workers."""

    workers: int
    threads_per_worker: int
    epochs: int
    epoch_time_s: LatencyStats
    train_time_s: float  # the epochs' times added up (evaluation excluded)
    test_accuracy: float  # after the last epoch
    time_to_target_s: float | None  # training time until the test accuracy first reached target
    epoch_reaching_target: int | None
    accuracy_by_epoch: list[float]
    weights_identical: bool | None = None  # DDP: all workers ended with the same weights


class Scaling(BaseModel):
    workers: int
    speedup: float  # median 1-worker epoch time / median N-worker epoch time
    ci95: tuple[float, float] | None  # None with a single epoch on either side
    verdict: str
    efficiency: float  # speed-up / workers


class TrainSummary(BaseModel):
    model: str
    params: int
    dataset: str
    classes: int
    train_size: int
    test_size: int
    device: str
    workers: int
    epochs: int
    batch_size: int
    learning_rate: float
    target_accuracy: float
    train_time_s: float
    epoch_time_s: LatencyStats
    time_to_target_s: float | None
    test_accuracy: float
    runs: list[TrainRunResult]
    scaling: Scaling | None = None
    weights_identical: bool | None = None
    explanation: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    run_file: str | None = None
    interrupted: bool = False


def _train_run(
    workers: int, epochs: Sequence[EpochSample], threads: int, target: float
) -> TrainRunResult:
    times_s = [e.epoch_time_ns / 1e9 for e in epochs]
    reached = next((e.epoch for e in epochs if e.test_accuracy >= target), None)
    return TrainRunResult(
        workers=workers,
        threads_per_worker=threads,
        epochs=len(epochs),
        epoch_time_s=latency_stats(times_s),
        train_time_s=sum(times_s),
        test_accuracy=epochs[-1].test_accuracy,
        time_to_target_s=None if reached is None else sum(times_s[:reached]),
        epoch_reaching_target=reached,
        accuracy_by_epoch=[e.test_accuracy for e in epochs],
    )


def _steps_per_epoch(header: TrainHeader, workers: int) -> int:
    """Optimiser steps per epoch; DistributedSampler pads every shard to the same length."""
    shard = math.ceil(header.train_size / workers)
    return math.ceil(shard / (header.batch_size // workers))


def _explain_scaling(
    scaling: Scaling, header: TrainHeader, runs: list[TrainRunResult]
) -> list[str]:
    one, many = runs[0], runs[-1]
    step_one_ms = one.epoch_time_s.median / _steps_per_epoch(header, 1) * 1e3
    step_many_ms = many.epoch_time_s.median / _steps_per_epoch(header, many.workers) * 1e3
    line = (
        f"{scaling.workers} workers vs 1: {scaling.speedup:.2f}× per epoch ({scaling.verdict}, "
        f"{scaling.efficiency:.0%} of perfect scaling). A step takes {step_one_ms:.2f} ms on 1 "
        f"worker ({header.batch_size} images) and {step_many_ms:.2f} ms on {many.workers} "
        f"({header.batch_size // many.workers} images each)."
    )
    if scaling.verdict == "faster" and scaling.efficiency >= 0.7:
        return [line + " Each worker computes on its own shard; the all-reduce is cheap here."]
    backend = "nccl" if header.device == "cuda" else "gloo over TCP on 127.0.0.1"
    return [
        line
        + f" Every step all-reduces the gradients of all {header.params:,} parameters ({backend})"
        " and every worker waits there for the slowest, which costs "
        + ("more than" if scaling.verdict == "slower" else "about as much as")
        + f" splitting so little compute saves; and the 1-worker run already had all "
        f"{one.threads_per_worker} cores for its intra-op threads. Data parallelism pays when a "
        "step's compute dwarfs its all-reduce: bigger models and batches, one GPU per worker."
    ]


def summarise_train(
    header: TrainHeader,
    samples: Sequence[EpochSample],
    run_file: str | None = None,
    *,
    interrupted: bool = False,
    weights_identical: bool | None = None,
) -> TrainSummary:
    by_workers: dict[int, list[EpochSample]] = defaultdict(list)
    for sample in samples:
        by_workers[sample.workers].append(sample)
    runs = []
    for workers in header.workers:
        epochs = sorted(by_workers.get(workers, []), key=lambda e: e.epoch)
        if epochs:
            threads = header.threads[f"{workers} worker{'s' if workers > 1 else ''}"]
            runs.append(_train_run(workers, epochs, threads, header.target_accuracy))
    if not runs:
        raise ValueError("no epoch finished")
    asked = runs[-1]
    asked.weights_identical = weights_identical if asked.workers > 1 else None
    scaling, explanation, warnings = None, [], []
    one = by_workers.get(1)
    if asked.workers > 1 and one:
        many = by_workers[asked.workers]
        s = speedup([e.epoch_time_ns for e in one], [e.epoch_time_ns for e in many])
        scaling = Scaling(
            workers=asked.workers,
            speedup=s.ratio,
            ci95=s.ci95,
            verdict=s.verdict,
            efficiency=s.ratio / asked.workers,
        )
        explanation = _explain_scaling(scaling, header, runs)
    for run in runs:
        if run.time_to_target_s is None:
            warnings.append(
                f"{run.workers} worker(s): test accuracy never reached "
                f"{header.target_accuracy:.0%} (best {max(run.accuracy_by_epoch):.1%}); "
                "raise --epochs or lower --target-accuracy"
            )
    if weights_identical is False:
        warnings.append("the DDP workers ended with different weights: the run is not valid")
    return TrainSummary(
        model=header.model,
        params=header.params,
        dataset=header.dataset,
        classes=header.classes,
        train_size=header.train_size,
        test_size=header.test_size,
        device=header.device,
        workers=asked.workers,
        epochs=asked.epochs,
        batch_size=header.batch_size,
        learning_rate=header.learning_rate,
        target_accuracy=header.target_accuracy,
        train_time_s=asked.train_time_s,
        epoch_time_s=asked.epoch_time_s,
        time_to_target_s=asked.time_to_target_s,
        test_accuracy=asked.test_accuracy,
        runs=runs,
        scaling=scaling,
        weights_identical=asked.weights_identical,
        explanation=explanation,
        warnings=warnings,
        run_file=run_file,
        interrupted=interrupted,
    )
