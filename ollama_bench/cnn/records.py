"""The lines of CNN run files (see store.py): a header, one sample per timed batch, a footer.

Field names are a public contract: durations carry their unit (`_ns` integers measured with
`perf_counter_ns`), rates end in `_per_s`. Pydantic only, so runs can be read without torch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Phase = Literal["warmup", "measured"]


class DeviceInfo(BaseModel):
    """One device torch could run on, and why it is left out when it is."""

    name: str  # "cpu", "cuda:0", "mps"
    available: bool
    description: str = ""  # CPU model or GPU name
    reason: str | None = None  # why it is unavailable; None when available


class MatmulRate(BaseModel):
    """Measured fp32 GEMM rate on one device: the yardstick for achieved GFLOP/s."""

    device: str
    threads: int
    size: int = 2048
    gflops_per_s: float  # torch.matmul (MKL sgemm on x86 CPUs), best of the repetitions
    onednn_gflops_per_s: float | None = None  # the same GEMM through oneDNN (CPU only)


class ModelInfo(BaseModel):
    name: str
    params: int
    flops_per_image: int
    flops_counted: str  # what the FLOP figure includes
    image_shape: tuple[int, int, int]
    weights: str = "random, seeded (timing does not depend on weight values)"


class _Header(BaseModel):
    """What every CNN run header starts with: which tool, when, on what torch and host."""

    kind: Literal["header"] = "header"
    format_version: int = 1
    tool_version: str
    run_id: str
    started_at: datetime
    torch_version: str
    host: dict[str, Any]


class InferHeader(_Header):
    benchmark: Literal["cnn-infer"] = "cnn-infer"
    model: ModelInfo
    devices: list[DeviceInfo]  # every device looked for, used or not
    used_devices: list[str]
    threads: list[int]  # intra-op thread counts swept on the CPU
    batch_sizes: list[int]
    warmup: int
    iterations: int
    optimizations: list[str]  # asked for
    applied_optimizations: dict[str, list[str]]  # device → what it supports of them
    matmul: list[MatmulRate]


class InferSample(BaseModel):
    """One timed forward pass of one batch."""

    kind: Literal["sample"] = "sample"
    seq: int
    device: str
    model: str
    batch_size: int
    threads: int
    phase: Phase
    repeat: int  # 0-based index within its phase for this device, threads and batch size
    latency_ns: int  # clock read after synchronising the device


class ParallelHeader(_Header):
    benchmark: Literal["cnn-parallel"] = "cnn-parallel"
    model: ModelInfo
    images: int  # N single images per arm
    largest_activation_bytes: int  # per image: the biggest layer output
    pool_workers: int
    arm_threads: dict[str, int]  # arm → intra-op threads each call runs with
    optimizations: list[str]
    warmup: int
    repetitions: int


class ParallelSample(BaseModel):
    """One pass of one arm over all N images."""

    kind: Literal["sample"] = "sample"
    seq: int
    arm: str
    phase: Phase
    repeat: int
    images: int
    workers: int
    intra_op_threads: list[int]  # as read with torch.get_num_threads() by each calling thread
    wall_ns: int


class TrainHeader(_Header):
    benchmark: Literal["cnn-train"] = "cnn-train"
    model: str
    params: int
    dataset: str
    classes: int
    train_size: int
    test_size: int
    epochs: int
    batch_size: int  # global: split across workers
    learning_rate: float
    target_accuracy: float
    seed: int
    workers: list[int]  # worker counts trained, in order
    device: str
    threads: dict[str, int]  # "<workers> worker(s)" → intra-op threads per worker


class EpochSample(BaseModel):
    """One training epoch: its wall time (evaluation excluded) and the test accuracy after it."""

    kind: Literal["sample"] = "sample"
    seq: int
    workers: int
    epoch: int  # 1-based
    epoch_time_ns: int
    train_loss: float
    test_accuracy: float


class Footer(BaseModel):
    kind: Literal["footer"] = "footer"
    finished_at: datetime
    samples: int
    interrupted: bool
    elapsed_s: float
    notes: dict[str, Any] = Field(default_factory=dict)
