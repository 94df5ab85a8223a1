"""Clock reads around work on a device, and the fp32 GEMM rate that achieved FLOP/s are judged by.

Accelerators run asynchronously: the device is synchronised before each clock read, so a
duration covers the work and not just its launch (torch.utils.benchmark does the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ollama_bench.cnn.devices import synchronize
from ollama_bench.cnn.records import MatmulRate


def timed_ns(work: Callable[[], object], device: torch.device) -> int:
    """Nanoseconds `work()` takes on `device`, queued work drained before and after."""
    synchronize(device)
    start_ns = time.perf_counter_ns()
    work()
    synchronize(device)
    return time.perf_counter_ns() - start_ns


def _best_ns(work: Callable[[], object], device: torch.device, warmup: int, reps: int) -> int:
    for _ in range(warmup):
        timed_ns(work, device)
    return min(timed_ns(work, device) for _ in range(reps))


def matmul_rate(
    device: torch.device, threads: int, *, size: int = 2048, warmup: int = 3, reps: int = 9
) -> MatmulRate:
    """Rate of an fp32 size×size matmul (2·size³ FLOPs) with `threads` intra-op threads.

    The best of `reps` timed runs: a capability, which other load on the machine can only lower,
    so fractions of it are conservative. On the CPU the same GEMM is also run through oneDNN
    (F.linear on mkldnn tensors): torch.matmul goes to MKL's sgemm, which on some x86 CPUs (AMD)
    reaches half of what oneDNN, the library behind the convolutions, does.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=generator).to(device)
        b = torch.randn(size, size, generator=generator).to(device)
        out = torch.empty(size, size, device=device)
        flops = 2 * size**3
        with torch.inference_mode():
            rate = flops / _best_ns(lambda: torch.matmul(a, b, out=out), device, warmup, reps)
            onednn = None
            if device.type == "cpu" and _has_onednn():
                a_blocked, b_blocked = a.to_mkldnn(), b.to_mkldnn()
                onednn = flops / _best_ns(
                    lambda: F.linear(a_blocked, b_blocked), device, warmup, reps
                )
    finally:
        torch.set_num_threads(previous)
    return MatmulRate(
        device=str(device),
        threads=threads,
        size=size,
        gflops_per_s=rate,  # FLOPs per ns is GFLOP/s
        onednn_gflops_per_s=onednn,
    )


def _has_onednn() -> bool:
    available: bool = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
    return available
