"""GPU paths: CUDA and MPS inference, nccl DDP. Skipped cleanly on machines without them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ollama_bench.cnn.cli import app

torch = pytest.importorskip("torch")

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
mps = pytest.mark.skipif(not torch.backends.mps.is_available(), reason="needs an MPS device")


def infer_on(device: str, tmp_path: Path) -> dict[str, object]:
    result = CliRunner().invoke(
        app,
        ["infer", "--model", "lenet", "--devices", f"cpu,{device}", "--batch-sizes", "1,8",
         "--warmup", "2", "--iterations", "5", "--out", str(tmp_path), "--json", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.gpu
@cuda
def test_infer_on_cuda_reports_a_speedup_per_batch_size(tmp_path: Path) -> None:
    data = infer_on("cuda", tmp_path)
    results = data["results"]
    assert isinstance(results, list)
    assert {r["device"] for r in results} == {"cpu", "cuda:0"}
    speedups = data["speedups"]
    assert isinstance(speedups, list)
    assert sorted((s["device"], s["batch_size"]) for s in speedups) == [
        ("cuda:0", 1),
        ("cuda:0", 8),
    ]
    matmul = data["matmul_gflops_per_s"]
    assert isinstance(matmul, dict) and matmul["cuda:0"] > 0


@pytest.mark.gpu
@mps
def test_infer_on_mps(tmp_path: Path) -> None:
    data = infer_on("mps", tmp_path)
    results = data["results"]
    assert isinstance(results, list)
    assert any(r["device"] == "mps" for r in results)


@pytest.mark.gpu
@cuda
def test_cuda_timing_synchronises() -> None:
    from ollama_bench.cnn.timing import timed_ns

    device = torch.device("cuda:0")
    a = torch.randn(4096, 4096, device=device)
    queued_ns = timed_ns(lambda: None, device)
    work_ns = timed_ns(lambda: [a @ a for _ in range(10)], device)
    assert work_ns > queued_ns  # the clock waited for the matmuls, not just their launch


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two CUDA GPUs"
)
def test_ddp_on_two_gpus_with_nccl(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["train", "--device", "cuda", "--workers", "2", "--epochs", "2", "--out", str(tmp_path),
         "--json", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["weights_identical"] is True and data["device"] == "cuda"
