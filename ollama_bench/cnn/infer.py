"""The inference benchmark: time forward passes per device, batch size and CPU thread count.

For each batch size every (device, threads) pair is warmed up, then measured batches go round
(A B A B …) so that drift on a busy machine falls on all pairs alike. Inputs are already on the
device: host-to-device copies are not timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from ollama_bench.cnn.flops import flops_per_image
from ollama_bench.cnn.nets import ModelSpec, count_parameters
from ollama_bench.cnn.optimize import Prepared, prepare
from ollama_bench.cnn.records import InferSample, MatmulRate, ModelInfo, Phase
from ollama_bench.cnn.timing import matmul_rate, timed_ns
from ollama_bench.errors import UsageError

FLOPS_COUNTED = (
    "convolutions and linear layers, a multiply-add = 2 FLOPs; bias, norm, activation, "
    "pooling not counted"
)


@dataclass(frozen=True)
class InferPlan:
    model: str
    devices: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    threads: tuple[int, ...]  # CPU intra-op threads to sweep; accelerators use the largest
    warmup: int
    iterations: int
    optimizations: tuple[str, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        if ({"compile", "freeze"} & set(self.optimizations)) and len(self.threads) > 1:
            raise UsageError(
                "--opt compile/freeze fixes the thread count at compile time",
                "sweep --threads without compile, or pass one thread count",
            )

    def pairs(self) -> list[tuple[str, int]]:
        """(device, threads) in measuring order: the CPU at each thread count, then the rest."""
        top = max(self.threads)
        return [(d, t) for d in self.devices for t in (self.threads if d == "cpu" else (top,))]

    def steps(self) -> int:
        return len(self.batch_sizes) * len(self.pairs()) * (self.warmup + self.iterations)


class Observer(Protocol):
    def started(self, description: str) -> None: ...

    def finished(self, sample: InferSample) -> None: ...


def model_info(spec: ModelSpec) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        params=count_parameters(spec.module),
        flops_per_image=flops_per_image(spec.module, spec.image_shape),
        flops_counted=FLOPS_COUNTED,
        image_shape=spec.image_shape,
    )


def measure_matmul(plan: InferPlan) -> list[MatmulRate]:
    """The fp32 2048² GEMM rate for every (device, threads) pair of the plan."""
    return [matmul_rate(torch.device(d), t) for d, t in plan.pairs()]


def _set_threads(threads: int) -> None:
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class _Sampler:
    """Takes one timed batch and numbers the samples of a run."""

    def __init__(self, model: str, observer: Observer) -> None:
        self.model, self.observer, self.seq = model, observer, 0

    def take(
        self,
        prepared: Prepared,
        x: torch.Tensor,
        device: str,
        threads: int,
        phase: Phase,
        repeat: int,
    ) -> None:
        _set_threads(threads)
        self.observer.started(f"{phase} {device} · {threads} thr · batch {x.shape[0]}")
        latency_ns = timed_ns(lambda: prepared.forward(x), torch.device(device))
        self.seq += 1
        self.observer.finished(
            InferSample(
                seq=self.seq,
                device=device,
                model=self.model,
                batch_size=x.shape[0],
                threads=threads,
                phase=phase,
                repeat=repeat,
                latency_ns=latency_ns,
            )
        )


def prepare_all(plan: InferPlan, spec: ModelSpec) -> dict[str, Prepared]:
    """The model on every device of the plan, with the optimisations each device supports."""
    return {d: prepare(spec.module, torch.device(d), plan.optimizations) for d in plan.devices}


def run(
    plan: InferPlan, spec: ModelSpec, prepared: dict[str, Prepared], observer: Observer
) -> None:
    """Time every batch of the plan; each sample goes to the observer as soon as it is taken."""
    compiled = bool({"compile", "freeze"} & set(plan.optimizations))
    sampler = _Sampler(spec.name, observer)
    for batch_size in plan.batch_sizes:
        generator = torch.Generator().manual_seed(plan.seed)
        batch = torch.randn((batch_size, *spec.image_shape), generator=generator)
        inputs = {d: prepared[d].place(batch, torch.device(d)) for d in plan.devices}
        with torch.inference_mode():
            for device, threads in plan.pairs():
                if compiled:  # compiling takes seconds: not even a warm-up sample
                    _set_threads(threads)
                    prepared[device].forward(inputs[device])
                for repeat in range(plan.warmup):
                    sampler.take(
                        prepared[device], inputs[device], device, threads, "warmup", repeat
                    )
            for repeat in range(plan.iterations):
                for device, threads in plan.pairs():
                    sampler.take(
                        prepared[device], inputs[device], device, threads, "measured", repeat
                    )
