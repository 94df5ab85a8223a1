"""The training benchmark: epochs timed one by one, test accuracy after each, on one worker or many.

Many workers run the same training with DistributedDataParallel: one process per worker (spawned
by torch.multiprocessing), gloo on the CPU or nccl on GPUs, each on its shard of the data
(DistributedSampler) with its share of the global batch, so every step averages the gradient of
the same number of images. An epoch's clock stops when the slowest worker is done; evaluation
after it is not timed.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.multiprocessing.spawn import (
    ProcessExitedException,
    ProcessRaisedException,
    start_processes,
)
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler, TensorDataset

from ollama_bench.cnn.data import Dataset
from ollama_bench.cnn.nets import LeNet, SmallCnn
from ollama_bench.cnn.records import EpochSample
from ollama_bench.errors import ObenchError, UsageError


class TrainingError(ObenchError):
    """A worker process failed; nothing the user typed was wrong."""

    exit_code = 1


@dataclass(frozen=True)
class TrainPlan:
    epochs: int
    batch_size: int  # global: each of W workers takes batch_size // W per step
    learning_rate: float  # Adam's, decayed to 0 over the epochs (cosine)
    seed: int
    device: str  # "cpu" or "cuda"
    threads: int  # CPU cores to use in all; W workers get threads // W each

    def threads_per_worker(self, workers: int) -> int:
        return max(1, self.threads // workers)

    def check(self, workers: int) -> None:
        if self.batch_size < workers:
            raise UsageError(f"--batch-size {self.batch_size} is smaller than --workers {workers}")
        if self.device == "cuda" and workers > torch.cuda.device_count():
            raise UsageError(
                f"--workers {workers} needs {workers} GPUs; {torch.cuda.device_count()} found"
            )


@dataclass
class Epoch:
    workers: int
    epoch: int
    epoch_time_ns: int
    train_loss: float
    test_accuracy: float


@dataclass
class TrainRun:
    workers: int
    epochs: list[Epoch]
    weights_identical: bool | None  # across DDP workers; None for one worker


class Observer(Protocol):
    def started(self, description: str) -> None: ...

    def finished(self, sample: EpochSample) -> None: ...


def model_for(dataset: Dataset, seed: int) -> tuple[str, nn.Module]:
    """LeNet-5 for 8×8 or 28×28 grey digits; the small CNN for anything else."""
    torch.manual_seed(seed)
    channels, size = int(dataset.x_train.shape[1]), dataset.image_size
    if channels == 1 and size in (8, 28):
        return f"lenet ({size}×{size})", LeNet(size, len(dataset.classes))
    return f"smallcnn ({size}×{size} RGB)", SmallCnn(len(dataset.classes), size)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    model.eval()
    with torch.inference_mode():
        predicted = model(x.to(device)).argmax(dim=1).cpu()
    model.train()
    return int((predicted == y).sum()) / len(y)


def _epoch(
    model: nn.Module,
    loader: DataLoader[tuple[torch.Tensor, ...]],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    """One pass over the loader; the mean training loss."""
    loss_fn = nn.CrossEntropyLoss()
    total, batches = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        total, batches = total + float(loss.detach()), batches + 1
    return total / max(batches, 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _loader(
    dataset: Dataset, batch_size: int, sampler: Sampler[int]
) -> DataLoader[tuple[torch.Tensor, ...]]:
    return DataLoader(
        TensorDataset(dataset.x_train, dataset.y_train), batch_size=batch_size, sampler=sampler
    )


def train_one(plan: TrainPlan, dataset: Dataset, emit: Callable[[Epoch], None]) -> TrainRun:
    """The plain training: one process, `plan.threads` intra-op threads."""
    torch.set_num_threads(plan.threads)
    device = torch.device("cuda:0" if plan.device == "cuda" else "cpu")
    _, model = model_for(dataset, plan.seed)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=plan.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, plan.epochs)
    generator = torch.Generator().manual_seed(plan.seed)
    loader = _loader(dataset, plan.batch_size, RandomSampler(dataset.x_train, generator=generator))
    epochs = []
    for epoch in range(1, plan.epochs + 1):
        _sync(device)
        start_ns = time.perf_counter_ns()
        loss = _epoch(model, loader, optimizer, device)
        schedule.step()
        _sync(device)
        elapsed_ns = time.perf_counter_ns() - start_ns
        accuracy = evaluate(model, dataset.x_test, dataset.y_test, device)
        epochs.append(Epoch(1, epoch, elapsed_ns, loss, accuracy))
        emit(epochs[-1])
    return TrainRun(1, epochs, None)


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it), for the rendezvous on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _worker(
    rank: int,
    workers: int,
    port: int,
    plan: TrainPlan,
    dataset: Dataset,
    queue: Any,
    folder: str,
) -> None:
    """One DDP process: its shard, its share of each batch, gradients averaged by all-reduce."""
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(plan.threads_per_worker(workers))
    cuda = plan.device == "cuda"
    device = torch.device(f"cuda:{rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(
        "nccl" if cuda else "gloo", rank=rank, world_size=workers, timeout=timedelta(seconds=120)
    )
    try:
        _, model = model_for(dataset, plan.seed)  # same seed: same start; DDP broadcasts anyway
        ddp = DistributedDataParallel(model.to(device), device_ids=[rank] if cuda else None)
        optimizer = torch.optim.Adam(ddp.parameters(), lr=plan.learning_rate)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, plan.epochs)
        sampler: DistributedSampler[int] = DistributedSampler(
            TensorDataset(dataset.x_train, dataset.y_train),
            num_replicas=workers,
            rank=rank,
            shuffle=True,
            seed=plan.seed,
        )
        loader = _loader(dataset, plan.batch_size // workers, sampler)
        for epoch in range(1, plan.epochs + 1):
            sampler.set_epoch(epoch)
            dist.barrier()
            _sync(device)
            start_ns = time.perf_counter_ns()
            loss = _epoch(ddp, loader, optimizer, device)
            schedule.step()
            _sync(device)
            dist.barrier()  # the epoch ends when the slowest worker is done
            elapsed_ns = time.perf_counter_ns() - start_ns
            if rank == 0:
                accuracy = evaluate(model, dataset.x_test, dataset.y_test, device)
                queue.put(Epoch(workers, epoch, elapsed_ns, loss, accuracy))
        torch.save(model.state_dict(), Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _same_weights(states: list[dict[str, torch.Tensor]]) -> bool:
    first = states[0]
    return all(
        state.keys() == first.keys() and all(torch.equal(first[k], state[k]) for k in first)
        for state in states[1:]
    )


def train_distributed(
    plan: TrainPlan, dataset: Dataset, workers: int, emit: Callable[[Epoch], None]
) -> TrainRun:
    """The same training over `workers` DDP processes; compares their final weights."""
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    epochs: list[Epoch] = []

    def drain() -> None:
        while not queue.empty():
            epochs.append(queue.get())
            emit(epochs[-1])

    with tempfile.TemporaryDirectory(prefix="obench-ddp-") as folder:
        processes = start_processes(  # type: ignore[no-untyped-call]
            _worker,
            args=(workers, free_port(), plan, dataset, queue, folder),
            nprocs=workers,
            join=False,
            start_method="spawn",
        )
        try:
            while not processes.join(timeout=0.1):
                drain()
        except ProcessRaisedException as exc:
            last = str(exc).strip().splitlines()[-1]
            raise TrainingError(f"a training worker failed: {last}", "--debug shows more") from exc
        except ProcessExitedException as exc:
            raise TrainingError(f"a training worker died: {exc}") from exc
        drain()
        states = [
            torch.load(Path(folder) / f"rank{rank}.pt", weights_only=True)
            for rank in range(workers)
        ]
    return TrainRun(workers, epochs, _same_weights(states))
