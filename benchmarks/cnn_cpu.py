"""CNN inference on the CPU at batch 32: images/s and achieved GFLOP/s against the GEMM yardstick.

For cnn8m and resnet18, each optimisation variant is prepared and warmed up (compiling, if it
compiles), then the variants are timed round by round (A B C A B C …) so that drift on a busy
machine falls on all of them. Reported per variant: images/s = 32 / median batch latency,
achieved GFLOP/s (conv + linear multiply-adds × 2), and that as a share of a 2048² fp32 matmul
through torch.matmul (MKL sgemm) and through oneDNN (best of 9 each). Goal: ≥ 50% of the matmul.

  none          plain eager model, NCHW tensors
  no_mkldnn     the same with torch.backends.mkldnn disabled (ATen's own convolutions)
  channels_last NHWC weights and inputs
  compile       channels_last + torch.compile (inductor; needs gcc)
  freeze        channels_last + torch.compile with inductor freezing (weights as constants)

keep_heap (glibc mallopt, see ollama_bench/cnn/optimize.py) cannot be undone within a process,
so the script runs itself twice: every variant with glibc's default malloc settings, then every
variant with keep_heap. obench cnn infer's default is channels_last + keep_heap.

Run: python benchmarks/cnn_cpu.py [--rounds 4] [--per-round 2] [--variants a,b] [--models a,b]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table

from ollama_bench.cnn.devices import physical_cores
from ollama_bench.cnn.flops import flops_per_image
from ollama_bench.cnn.nets import build
from ollama_bench.cnn.optimize import Prepared, keep_heap, prepare
from ollama_bench.cnn.timing import matmul_rate

BATCH = 32
VARIANTS: dict[str, tuple[str, ...]] = {
    "none": (),
    "no_mkldnn": (),
    "channels_last": ("channels_last",),
    "compile": ("channels_last", "compile"),
    "freeze": ("channels_last", "freeze"),
}


def runner(name: str, prepared: Prepared, x: torch.Tensor) -> Callable[[], object]:
    if name == "no_mkldnn":

        def without_onednn() -> object:
            with warnings.catch_warnings():  # flags() warns about TF32 on Intel GPUs, every time
                warnings.simplefilter("ignore", UserWarning)
                with torch.backends.mkldnn.flags(enabled=False):
                    return prepared.forward(x)

        return without_onednn
    return lambda: prepared.forward(x)


def measure(model: str, variants: list[str], rounds: int, per_round: int) -> dict[str, list[int]]:
    spec = build(model)
    cpu = torch.device("cpu")
    batch = torch.randn((BATCH, *spec.image_shape), generator=torch.Generator().manual_seed(0))
    calls = {}
    with torch.inference_mode():
        for name in variants:
            prepared = prepare(spec.module, cpu, VARIANTS[name])
            calls[name] = runner(name, prepared, prepared.place(batch, cpu))
            for _ in range(3):  # warm-up, compile included
                calls[name]()
        latencies: dict[str, list[int]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, call in calls.items():
                for _ in range(per_round):
                    start_ns = time.perf_counter_ns()
                    call()
                    latencies[name].append(time.perf_counter_ns() - start_ns)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--models", default="cnn8m,resnet18")
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--heap", choices=["default", "keep_heap"], help="one phase only")
    args = parser.parse_args()
    if args.heap is None:
        for phase in ("default", "keep_heap"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--heap", phase], check=True)
        return
    heap: bool = args.heap == "keep_heap" and keep_heap()
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    console = Console(width=100)
    gemm = matmul_rate(torch.device("cpu"), args.threads)
    onednn = gemm.onednn_gflops_per_s or float("nan")
    console.rule(f"malloc: {'keep_heap' if heap else 'glibc defaults'}")
    console.print(
        f"torch {torch.__version__} · {args.threads} threads · batch {BATCH} · fp32 2048² GEMM "
        f"(best of 9): torch.matmul {gemm.gflops_per_s:.0f} GFLOP/s, oneDNN {onednn:.0f} GFLOP/s"
    )
    for model in args.models.split(","):
        spec = build(model)
        flops = flops_per_image(spec.module, spec.image_shape)
        latencies = measure(model, variants, args.rounds, args.per_round)
        table = Table(
            title=f"{model}: {flops / 1e9:.3g} GFLOP per image, {args.rounds}×{args.per_round} "
            f"batches per variant, interleaved{', keep_heap on' if heap else ''}",
            title_justify="left",
        )
        for column in (
            "variant",
            "images/s",
            "best",
            "GFLOP/s",
            "of matmul",
            "of oneDNN",
            "spread",
        ):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for name, values in latencies.items():
            median_s = statistics.median(values) / 1e9
            gflops = flops * BATCH / median_s / 1e9
            table.add_row(
                name,
                f"{BATCH / median_s:.0f}",
                f"{BATCH / (min(values) / 1e9):.0f}",
                f"{gflops:.0f}",
                f"{gflops / gemm.gflops_per_s:.0%}",
                f"{gflops / onednn:.0%}",
                f"{statistics.stdev(values) / statistics.median(values):.0%}",
            )
        console.print(table)
    console.print(
        "images/s = 32 / median batch latency; best = 32 / fastest batch; spread = stdev / median."
    )


if __name__ == "__main__":
    main()
