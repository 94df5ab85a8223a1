"""Threads versus batching at batch 1: the seed's parallelisation experiment, with its controls.

Every arm classifies the same N images, after a warm-up pass, R times in turn (A B C A B C …):
sequential calls with T intra-op threads (and with 1: the one-core yardstick); a pool of K Python
threads sharing the model, each call with T // K intra-op threads, so the pool uses the same
cores and no more; one batched call of N images with T threads; and the seed's mistake, the pool
with T intra-op threads per worker.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import torch

from ollama_bench.cnn.nets import ModelSpec
from ollama_bench.cnn.optimize import Prepared, prepare
from ollama_bench.cnn.records import ParallelSample, Phase
from ollama_bench.errors import UsageError

SEQUENTIAL, ONE_CORE, POOL, BATCHED, OVERSUBSCRIBED = (
    "sequential",
    "1-thread sequential",
    "thread pool",
    "batched",
    "oversubscribed pool",
)


@dataclass(frozen=True)
class ParallelPlan:
    images: int  # N
    workers: int  # K
    threads: int  # T: the cores to use
    warmup: int
    repetitions: int
    optimizations: tuple[str, ...]
    oversubscribed: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if {"compile", "freeze"} & set(self.optimizations):
            raise UsageError(
                "--opt compile/freeze bakes the thread count into the kernels, so the arms "
                "could not run with different intra-op threads",
                "use --opt channels_last or none",
            )

    @property
    def pool_threads(self) -> int:
        return max(1, self.threads // self.workers)

    def arm_threads(self) -> dict[str, int]:
        """Intra-op threads each call of an arm runs with."""
        arms = {SEQUENTIAL: self.threads}
        if self.threads > 1:
            arms[ONE_CORE] = 1  # the one-core rate: what perfect scaling multiplies
        arms |= {POOL: self.pool_threads, BATCHED: self.threads}
        if self.oversubscribed:
            arms[OVERSUBSCRIBED] = self.threads
        return arms

    def steps(self) -> int:
        return len(self.arm_threads()) * (self.warmup + self.repetitions)


class Observer(Protocol):
    def started(self, description: str) -> None: ...

    def finished(self, sample: ParallelSample) -> None: ...


class _Arm:
    """One way of running N images through the model; `run` returns wall ns and thread counts.

    Pool arms get a fresh pool for every pass, its threads started before the clock and joined
    after it: a worker thread that ran with several intra-op threads leaves an idle OpenMP team
    behind, and while more OpenMP threads exist than cores libgomp stops spinning at every
    barrier of every other thread's parallel regions, which slowed the sequential arm by a quarter
    when the pools were kept.
    """

    def __init__(
        self, name: str, plan: ParallelPlan, model: Prepared, images: list[torch.Tensor]
    ) -> None:
        self.name, self.plan, self.model, self.images = name, plan, model, images
        self.threads = plan.arm_threads()[name]
        self.workers = plan.workers if name in (POOL, OVERSUBSCRIBED) else 1
        self.batch = torch.cat(images) if name == BATCHED else None

    def _call(self, x: torch.Tensor) -> int:
        with torch.inference_mode():  # grad mode is per thread
            self.model.forward(x)
        return torch.get_num_threads()

    def _pool_pass(self) -> tuple[int, list[int]]:
        started = threading.Barrier(self.workers)
        with ThreadPoolExecutor(
            self.workers,
            thread_name_prefix=self.name,
            initializer=torch.set_num_threads,
            initargs=(self.threads,),
        ) as pool:
            list(pool.map(lambda _: started.wait(), range(self.workers)))  # all threads up
            start_ns = time.perf_counter_ns()
            threads_seen = sorted(set(pool.map(self._call, self.images)))
            return time.perf_counter_ns() - start_ns, threads_seen

    def run(self) -> tuple[int, list[int]]:
        torch.set_num_threads(self.threads)  # the main thread's; pool workers set their own
        if self.workers > 1:
            return self._pool_pass()
        start_ns = time.perf_counter_ns()
        if self.batch is not None:
            threads_seen = [self._call(self.batch)]
        else:
            threads_seen = sorted({self._call(x) for x in self.images})
        return time.perf_counter_ns() - start_ns, threads_seen


def run(plan: ParallelPlan, spec: ModelSpec, observer: Observer) -> None:
    """Warm every arm up, then run the arms in turn; each pass goes to the observer at once."""
    cpu = torch.device("cpu")
    model = prepare(spec.module, cpu, plan.optimizations)
    generator = torch.Generator().manual_seed(plan.seed)
    images = [
        model.place(torch.randn((1, *spec.image_shape), generator=generator), cpu)
        for _ in range(plan.images)
    ]
    arms = [_Arm(name, plan, model, images) for name in plan.arm_threads()]
    seq = 0
    try:
        rounds: list[tuple[Phase, int]] = [("warmup", r) for r in range(plan.warmup)]
        rounds += [("measured", r) for r in range(plan.repetitions)]
        for phase, repeat in rounds:
            for arm in arms:
                observer.started(f"{phase} {arm.name} · pass {repeat + 1}")
                wall_ns, threads_seen = arm.run()
                seq += 1
                observer.finished(
                    ParallelSample(
                        seq=seq,
                        arm=arm.name,
                        phase=phase,
                        repeat=repeat,
                        images=plan.images,
                        workers=arm.workers,
                        intra_op_threads=threads_seen,
                        wall_ns=wall_ns,
                    )
                )
    finally:
        torch.set_num_threads(plan.threads)
