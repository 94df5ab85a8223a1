"""From the parallel experiment's passes to figures and the reasons for them. No I/O or torch.

images/s of an arm = N / median pass time; its ratio to the sequential arm (the same images,
passes interleaved) comes with stats.speedup's CI. The explanation is built from the measured
numbers, so it cannot claim what the run contradicts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, Field

from ollama_bench.cnn.records import ParallelHeader, ParallelSample
from ollama_bench.cnn.summary import LatencyStats, latency_stats
from ollama_bench.stats import speedup


class ArmResult(BaseModel):
    """One arm of the parallel experiment: N images per pass, R measured passes."""

    arm: str
    workers: int
    intra_op_threads: int  # as set for the arm
    threads_seen: list[int]  # torch.get_num_threads() read inside the calls
    passes: int
    pass_time_s: LatencyStats
    images_per_s: float  # N / median pass time
    vs_sequential: float  # median sequential pass time / median pass time of this arm
    ci95: tuple[float, float] | None  # None for the sequential arm itself, or a single pass
    verdict: str


class ParallelSummary(BaseModel):
    model: str
    params: int
    flops_per_image: int
    images: int
    pool_workers: int
    threads: int
    optimizations: list[str]
    torch_version: str
    arms: list[ArmResult]
    explanation: list[str]
    warnings: list[str] = Field(default_factory=list)
    run_file: str | None = None
    interrupted: bool = False


def _explain(arms: dict[str, ArmResult], header: ParallelHeader) -> list[str]:
    """Why the figures come out as they do, from this run's numbers; no claim the data refute."""
    lines = []
    seq, one = arms.get("sequential"), arms.get("1-thread sequential")
    pool, batched = arms.get("thread pool"), arms.get("batched")
    workers, cores = header.pool_workers, header.arm_threads.get("sequential", 1)
    if seq is not None and pool is not None:
        line = (
            f"Thread pool: {pool.vs_sequential:.2f}× sequential ({pool.verdict}). torch releases "
            "the GIL inside operators, so the pool's Python threads do compute at once, but the "
            f"{cores} cores are the limit and the sequential calls already keep them busy through "
            "intra-op threads."
        )
        if one is not None:
            ceiling = min(workers, cores) * one.images_per_s
            line += (
                f" One core alone does {one.images_per_s:.0f} images/s; intra-op threads make a "
                f"call {seq.images_per_s / one.images_per_s:.2f}× faster on {cores} cores. A pool "
                f"can at best run {min(workers, cores)} single-threaded calls side by side, "
                f"{ceiling:.0f} images/s, and reached {pool.images_per_s:.0f}: all it can win "
                "back is what intra-op threading loses (a fork and join per layer, late layers "
                "too small to split); workers beyond the cores add nothing."
            )
        lines.append(line)
    over = arms.get("oversubscribed pool")
    if over is not None and pool is not None:
        relative = over.images_per_s / pool.images_per_s
        threads = workers * over.intra_op_threads
        lines.append(
            f"Oversubscribed pool (the seed's set-up): {over.vs_sequential:.2f}× sequential, "
            f"{relative:.2f}× the pool above. {workers} workers × {over.intra_op_threads} "
            f"intra-op threads = {threads} threads on {cores} cores: "
            + (
                "they take turns on the cores and every layer's join waits for a thread that "
                "is not running."
                if relative < 0.97
                else "the time-slicing cost little here, but bought nothing either."
            )
        )
    if batched is not None:
        mb = header.images * header.largest_activation_bytes / 1e6
        if batched.verdict == "faster":
            lines.append(
                f"Batched: {batched.vs_sequential:.2f}× (faster). One call of {header.images} "
                "images makes every convolution one taller GEMM: weights fetched into cache once "
                "serve every image, vector units stay full, and per-call costs (Python, dispatch, "
                "oneDNN set-up, a thread fork and join per layer) are paid once."
            )
        else:
            lines.append(
                f"Batched: {batched.vs_sequential:.2f}× ({batched.verdict}). Batching pays when "
                "one image leaves the GEMMs small and per-call costs large; a 224×224 image "
                "already gives the first convolution 12,544 output rows, and the call takes "
                f"{seq.pass_time_s.median / header.images * 1e3 if seq else 0:.0f} ms, so those "
                f"costs are small. {header.images} images' largest activation is {mb:.0f} MB, far "
                "beyond the caches, so the memory-bound layers (batch norm, ReLU, pooling, "
                "additions) slow down. Smaller batches or smaller images gain more: try obench "
                "cnn infer --model resnet18 --batch-sizes 1,4,8,32, or --model cnn8m."
            )
    return lines


def summarise_parallel(
    header: ParallelHeader,
    samples: Sequence[ParallelSample],
    run_file: str | None = None,
    *,
    interrupted: bool = False,
) -> ParallelSummary:
    walls: dict[str, list[float]] = defaultdict(list)
    seen: dict[str, set[int]] = defaultdict(set)
    workers: dict[str, int] = {}
    for s in samples:
        if s.phase == "measured":
            walls[s.arm].append(s.wall_ns / 1e9)
            seen[s.arm].update(s.intra_op_threads)
            workers[s.arm] = s.workers
    base = walls.get("sequential")
    arms: dict[str, ArmResult] = {}
    for arm, values in walls.items():
        stats = latency_stats(values)
        ratio = speedup(base, values) if base and arm != "sequential" else None
        arms[arm] = ArmResult(
            arm=arm,
            workers=workers[arm],
            intra_op_threads=header.arm_threads[arm],
            threads_seen=sorted(seen[arm]),
            passes=len(values),
            pass_time_s=stats,
            images_per_s=header.images / stats.median,
            vs_sequential=ratio.ratio if ratio else 1.0 if arm == "sequential" else float("nan"),
            ci95=ratio.ci95 if ratio else None,
            verdict="baseline"
            if arm == "sequential"
            else ratio.verdict
            if ratio
            else "no baseline",
        )
    warnings = [
        f"{a.arm}: calls ran with {a.threads_seen} intra-op threads, not {a.intra_op_threads}"
        for a in arms.values()
        if a.threads_seen != [a.intra_op_threads]
    ]
    noisy = [
        a.arm
        for a in arms.values()
        if a.pass_time_s.stdev is not None and a.pass_time_s.stdev / a.pass_time_s.median > 0.2
    ]
    if noisy:
        warnings.append(
            f"passes of {', '.join(noisy)} vary by more than 20% (stdev / median): another "
            "process probably competed for the cores, so the ratios are uncertain; repeat the "
            "run or raise --repetitions"
        )
    if any(a.passes < 3 for a in arms.values()):
        warnings.append("fewer than 3 measured passes per arm: raise --repetitions")
    threads = header.arm_threads.get("sequential", 1)
    return ParallelSummary(
        model=header.model.name,
        params=header.model.params,
        flops_per_image=header.model.flops_per_image,
        images=header.images,
        pool_workers=header.pool_workers,
        threads=threads,
        optimizations=header.optimizations,
        torch_version=header.torch_version,
        arms=list(arms.values()),
        explanation=_explain(arms, header),
        warnings=warnings,
        run_file=run_file,
        interrupted=interrupted,
    )
