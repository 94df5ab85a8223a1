"""Clock reads around work on a device, and the fp32 GEMM rate that achieved FLOP/s are judged by.

Accelerators run asynchronously: the device is synchronised before each clock read, so a
duration covers the work and not just its launch (torch.utils.benchmark does the same).
"""

from __future__ import annotations

import statistics
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


def _median_ns(work: Callable[[], object], device: torch.device, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        timed_ns(work, device)
    return statistics.median(timed_ns(work, device) for _ in range(reps))


def matmul_rate(
    device: torch.device, threads: int, *, size: int = 2048, warmup: int = 3, reps: int = 9
) -> MatmulRate:
    """Median rate of an fp32 size×size matmul (2·size³ FLOPs) with `threads` intra-op threads.

    On the CPU the same GEMM is also run as a oneDNN 1×1 convolution: on x86 torch.matmul goes to
    MKL's sgemm, which on some CPUs (AMD) is well below what oneDNN's convolutions reach.
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
            rate = flops / _median_ns(lambda: torch.matmul(a, b, out=out), device, warmup, reps)
            onednn = None
            if device.type == "cpu" and torch.backends.mkldnn.is_available():
                # A 1×1 convolution with K = N = size channels over size pixels is a size³ GEMM;
                # channels-last input and weight are the layouts oneDNN runs fastest here.
                last = torch.channels_last
                x = a.reshape(1, size, size, 1).contiguous(memory_format=last)
                w = b.reshape(size, size, 1, 1).contiguous(memory_format=last)
                onednn = flops / _median_ns(lambda: F.conv2d(x, w), device, warmup, reps)
    finally:
        torch.set_num_threads(previous)
    return MatmulRate(
        device=str(device),
        threads=threads,
        size=size,
        gflops_per_s=rate,  # FLOPs per ns is GFLOP/s
        onednn_gflops_per_s=onednn,
    )
