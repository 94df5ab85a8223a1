"""CNN figures from hand-made samples: images/s, GFLOP/s, speed-ups, time to target. No torch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ollama_bench.cnn.records import (
    DeviceInfo,
    EpochSample,
    InferHeader,
    InferSample,
    MatmulRate,
    ModelInfo,
    TrainHeader,
)
from ollama_bench.cnn.summary import summarise_infer
from ollama_bench.cnn.train_summary import summarise_train

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def infer_header(**changes: object) -> InferHeader:
    fields: dict[str, object] = {
        "tool_version": "0",
        "run_id": "r",
        "started_at": NOW,
        "model": ModelInfo(
            name="m", params=1, flops_per_image=10**9, flops_counted="x", image_shape=(3, 8, 8)
        ),
        "torch_version": "t",
        "devices": [DeviceInfo(name="cpu", available=True)],
        "used_devices": ["cpu", "cuda:0"],
        "threads": [2],
        "batch_sizes": [4],
        "warmup": 1,
        "iterations": 3,
        "optimizations": [],
        "applied_optimizations": {"cpu": [], "cuda:0": []},
        "matmul": [
            MatmulRate(device="cpu", threads=2, gflops_per_s=400.0, onednn_gflops_per_s=800.0),
            MatmulRate(device="cuda:0", threads=2, gflops_per_s=4000.0),
        ],
        "host": {},
    }
    return InferHeader.model_validate(fields | changes)


def sample(seq: int, device: str, latency_ms: float, phase: str = "measured") -> InferSample:
    return InferSample(
        seq=seq,
        device=device,
        model="m",
        batch_size=4,
        threads=2,
        phase=phase,  # type: ignore[arg-type]
        repeat=0,
        latency_ns=int(latency_ms * 1e6),
    )


def test_images_per_s_is_batch_size_over_median_batch_latency() -> None:
    samples = [
        sample(1, "cpu", 500, "warmup"),  # left out
        sample(2, "cpu", 10),
        sample(3, "cpu", 20),
        sample(4, "cpu", 40),
        sample(5, "cuda:0", 5),
        sample(6, "cuda:0", 4),
        sample(7, "cuda:0", 6),
    ]
    summary = summarise_infer(infer_header(), samples)
    cpu = next(r for r in summary.results if r.device == "cpu")
    assert cpu.n == 3
    assert cpu.batch_latency_s.median == pytest.approx(0.020)
    assert cpu.images_per_s == pytest.approx(4 / 0.020)  # 200 images/s, not 50 batches/s
    assert cpu.gflops_per_s == pytest.approx(200.0)  # 1 GFLOP per image × 200 images/s
    assert cpu.fraction_of_matmul == pytest.approx(0.5)
    assert cpu.fraction_of_onednn_gemm == pytest.approx(0.25)
    assert cpu.batch_latency_s.p90 == pytest.approx(0.036)  # type 7: 20 + 0.8 × (40 − 20)
    (speed,) = summary.speedups
    assert (speed.device, speed.batch_size) == ("cuda:0", 4)
    assert speed.speedup_vs_cpu == pytest.approx(0.020 / 0.005)
    # three CPU batches spread over 4× say little: the interval (t with ~2 df) spans 1
    assert speed.ci95 is not None and speed.ci95[0] < 1 < 4 < speed.ci95[1]
    assert speed.verdict == "no clear difference"
    assert summary.matmul_gflops_per_s == {"cpu": 400.0, "cuda:0": 4000.0}
    assert any("MKL sgemm" in w for w in summary.warnings)  # 400 is half of oneDNN's 800
    assert any("p90" in w for w in summary.warnings)  # n = 3 < 10


def test_thread_sweep_compares_against_the_most_threads() -> None:
    header = infer_header(threads=[1, 2], used_devices=["cpu"])
    samples = [sample(i, "cpu", 10) for i in range(3)]
    samples += [
        InferSample(**(sample(9 + i, "cpu", 30).model_dump() | {"threads": 1})) for i in range(3)
    ]
    summary = summarise_infer(header, samples)
    (speed,) = summary.speedups
    assert (speed.threads, speed.baseline) == (1, "cpu, 2 threads")
    assert speed.speedup_vs_cpu == pytest.approx(1 / 3)
    assert speed.verdict == "slower"


def train_header(workers: list[int]) -> TrainHeader:
    return TrainHeader(
        tool_version="0",
        run_id="r",
        started_at=NOW,
        model="lenet",
        params=100,
        dataset="d",
        classes=10,
        train_size=10,
        test_size=5,
        epochs=3,
        batch_size=16,
        learning_rate=0.01,
        target_accuracy=0.95,
        seed=0,
        workers=workers,
        device="cpu",
        threads={"1 worker": 2, "2 workers": 1},
        torch_version="t",
        host={},
    )


def epoch(seq: int, workers: int, n: int, seconds: float, accuracy: float) -> EpochSample:
    return EpochSample(
        seq=seq,
        workers=workers,
        epoch=n,
        epoch_time_ns=int(seconds * 1e9),
        train_loss=1.0,
        test_accuracy=accuracy,
    )


def test_time_to_target_adds_the_epochs_up_to_the_first_that_reaches_it() -> None:
    samples = [epoch(1, 1, 1, 1.0, 0.5), epoch(2, 1, 2, 2.0, 0.96), epoch(3, 1, 3, 3.0, 0.94)]
    summary = summarise_train(train_header([1]), samples)
    assert summary.time_to_target_s == pytest.approx(3.0)
    assert summary.runs[0].epoch_reaching_target == 2
    assert summary.train_time_s == pytest.approx(6.0)
    assert summary.epoch_time_s.median == pytest.approx(2.0)
    assert summary.test_accuracy == pytest.approx(0.94)  # the last epoch's, not the best
    assert summary.scaling is None and summary.warnings == []


def test_scaling_against_one_worker() -> None:
    one = [epoch(i, 1, i, 1.0 + i / 100, 0.96) for i in (1, 2, 3)]
    two = [epoch(3 + i, 2, i, 2.0 + i / 100, 0.5) for i in (1, 2, 3)]
    summary = summarise_train(train_header([1, 2]), one + two, weights_identical=True)
    assert summary.workers == 2
    assert summary.weights_identical is True
    assert summary.scaling is not None
    assert summary.scaling.speedup == pytest.approx(1.02 / 2.02)
    assert summary.scaling.verdict == "slower"
    assert summary.scaling.efficiency == pytest.approx(1.02 / 2.02 / 2)
    assert "more than" in summary.explanation[0]
    assert any("never reached 95%" in w for w in summary.warnings)  # the 2-worker run
