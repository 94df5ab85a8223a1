"""From inference samples to figures: images/s, latency percentiles, GFLOP/s, speed-ups.

images/s = batch size / median batch latency (never batches/s); achieved GFLOP/s = FLOPs per
image × images/s; the speed-up of a device over the CPU is the ratio of median latencies at the
same batch size, the key that pairs them, with stats.paired_ratio's CI. Warm-up samples are left
out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, Field

from ollama_bench.cnn.records import DeviceInfo, InferHeader, InferSample, MatmulRate
from ollama_bench.stats import MIN_N_FOR_P90, Summary, paired_ratio

#: Spread above which a latency series is flagged: stdev / median.
NOISY_SPREAD = 0.25


class LatencyStats(BaseModel):
    median: float
    p90: float
    mean: float
    stdev: float | None
    min: float
    max: float


class InferResult(BaseModel):
    """One device × threads × batch size."""

    device: str
    threads: int
    batch_size: int
    n: int
    images_per_s: float
    batch_latency_s: LatencyStats
    gflops_per_s: float
    fraction_of_matmul: float | None  # achieved / torch.matmul rate on this device and threads
    fraction_of_onednn_gemm: float | None  # achieved / the same GEMM through oneDNN (CPU)


class SpeedupResult(BaseModel):
    device: str
    threads: int
    batch_size: int
    baseline: str  # "cpu, N threads"
    speedup_vs_cpu: float  # median CPU latency / median latency of this device
    ci95: tuple[float, float] | None  # None with a single batch on either side
    verdict: str


class InferSummary(BaseModel):
    model: str
    params: int
    flops_per_image: int
    flops_counted: str
    weights: str
    torch_version: str
    threads: int  # CPU intra-op threads of the baseline (the largest swept)
    threads_swept: list[int]
    optimizations: list[str]
    applied_optimizations: dict[str, list[str]]
    devices: list[DeviceInfo]
    matmul: list[MatmulRate]
    matmul_gflops_per_s: dict[str, float]  # device → torch.matmul rate at `threads`
    results: list[InferResult]
    speedups: list[SpeedupResult]
    warnings: list[str] = Field(default_factory=list)
    run_file: str | None = None
    interrupted: bool = False


def latency_stats(latencies_s: Sequence[float]) -> LatencyStats:
    s = Summary.of(latencies_s)
    assert s.median is not None and s.p90 is not None and s.mean is not None
    assert s.min is not None and s.max is not None
    return LatencyStats(
        median=s.median, p90=s.p90, mean=s.mean, stdev=s.stdev, min=s.min, max=s.max
    )


def _rate(matmul: Sequence[MatmulRate], device: str, threads: int) -> MatmulRate | None:
    return next((m for m in matmul if m.device == device and m.threads == threads), None)


def summarise_infer(
    header: InferHeader,
    samples: Sequence[InferSample],
    run_file: str | None = None,
    *,
    interrupted: bool = False,
) -> InferSummary:
    series: dict[tuple[str, int, int], list[float]] = defaultdict(list)
    for sample in samples:
        if sample.phase == "measured":
            key = (sample.device, sample.threads, sample.batch_size)
            series[key].append(sample.latency_ns / 1e9)
    flops = header.model.flops_per_image
    results, warnings = [], []
    for (device, threads, batch_size), latencies in series.items():
        stats = latency_stats(latencies)
        images_per_s = batch_size / stats.median
        gflops_per_s = flops * images_per_s / 1e9
        rate = _rate(header.matmul, device, threads)
        onednn = rate.onednn_gflops_per_s if rate else None
        results.append(
            InferResult(
                device=device,
                threads=threads,
                batch_size=batch_size,
                n=len(latencies),
                images_per_s=images_per_s,
                batch_latency_s=stats,
                gflops_per_s=gflops_per_s,
                fraction_of_matmul=gflops_per_s / rate.gflops_per_s if rate else None,
                fraction_of_onednn_gemm=gflops_per_s / onednn if onednn else None,
            )
        )
        label = f"{device}, {threads} threads, batch {batch_size}"
        if stats.stdev is not None and stats.stdev / stats.median > NOISY_SPREAD:
            warnings.append(
                f"{label}: latency stdev is {stats.stdev / stats.median:.0%} of the median; "
                "is the machine busy? (repeat the run, raise --iterations)"
            )
    if any(r.n < MIN_N_FOR_P90 for r in results):
        warnings.append(f"p90 with fewer than {MIN_N_FOR_P90} batches is nearly the maximum")
    slow_mkl = [
        m.gflops_per_s / m.onednn_gflops_per_s
        for m in header.matmul
        if m.onednn_gflops_per_s and m.gflops_per_s < 0.75 * m.onednn_gflops_per_s
    ]
    if slow_mkl:
        warnings.append(
            f"torch.matmul (MKL sgemm) reaches only {max(slow_mkl):.0%} of oneDNN's GEMM on this "
            "CPU; the convolutions run on oneDNN, so 'of oneDNN GEMM' is the fairer yardstick"
        )
    baseline_threads = max(header.threads)
    speedups = []
    for (device, threads, batch_size), latencies in series.items():
        base = series.get(("cpu", baseline_threads, batch_size))
        if base is None or (device, threads) == ("cpu", baseline_threads):
            continue
        s = paired_ratio({batch_size: base}, {batch_size: latencies})
        speedups.append(
            SpeedupResult(
                device=device,
                threads=threads,
                batch_size=batch_size,
                baseline=f"cpu, {baseline_threads} threads",
                speedup_vs_cpu=s.ratio,
                ci95=s.ci95,
                verdict=s.verdict,
            )
        )
    by_device = {m.device: m.gflops_per_s for m in header.matmul if m.threads == baseline_threads}
    return InferSummary(
        model=header.model.name,
        params=header.model.params,
        flops_per_image=flops,
        flops_counted=header.model.flops_counted,
        weights=header.model.weights,
        torch_version=header.torch_version,
        threads=baseline_threads,
        threads_swept=header.threads,
        optimizations=header.optimizations,
        applied_optimizations=header.applied_optimizations,
        devices=header.devices,
        matmul=header.matmul,
        matmul_gflops_per_s=by_device,
        results=results,
        speedups=speedups,
        warnings=warnings,
        run_file=run_file,
        interrupted=interrupted,
    )
