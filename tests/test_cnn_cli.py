"""`obench cnn infer` and `parallel` via Typer's runner: JSON contract, run file, plots, errors."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ollama_bench.cli import app as top_app
from ollama_bench.cnn.cli import app
from ollama_bench.store import read_lines

pytest.importorskip("torch")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def json_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("blocked", ["'torch'", "'torch', 'sklearn'"])
@pytest.mark.parametrize("command", ["infer", "parallel", "train"])
def test_without_torch_every_command_prints_the_hint_and_exits_2(
    command: str, blocked: str
) -> None:
    code = (
        f"import sys; sys.modules.update(dict.fromkeys([{blocked}]))\n"
        "from ollama_bench.cnn.cli import app\n"  # must import without torch
        f"app([{command!r}], prog_name='obench cnn')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "torch" in lines[0] and "not installed" in lines[0]
    assert "pip install 'ollama-bench[cnn]'" in lines[0]
    assert "pip install torch==2.13.0" in lines[0]
    assert "Traceback" not in done.stderr


def test_guard_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    result = invoke("infer", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "pip install 'ollama-bench[cnn]'" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing was measured


def test_infer_json_contract_and_run_file(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    data = json_of(
        invoke(
            "infer", "--model", "lenet", "--batch-sizes", "1,4", "--warmup", "1",
            "--iterations", "5", "--devices", "cpu", "--out", str(out), "--json", "-q",
        )
    )  # fmt: skip
    assert data["model"] == "lenet"
    assert data["params"] == 61_706
    assert data["flops_per_image"] == 833_040
    assert isinstance(data["threads"], int) and data["threads"] >= 1
    assert data["optimizations"] == ["channels_last", "keep_heap"]
    assert data["applied_optimizations"]["cpu"][0] == "channels_last"
    assert data["matmul_gflops_per_s"]["cpu"] > 0
    assert data["speedups"] == []  # only the CPU here
    assert data["run_file"] == str(out)
    results = {r["batch_size"]: r for r in data["results"]}
    assert sorted(results) == [1, 4]

    lines = read_lines(out)
    header, footer = lines[0], lines[-1]
    samples = [line for line in lines if line["kind"] == "sample"]
    assert header["kind"] == "header" and header["model"]["params"] == 61_706
    assert header["torch_version"] and header["host"]["cpu_count"] >= 1
    assert footer == footer | {"kind": "footer", "samples": 12, "interrupted": False}
    assert len(samples) == 2 * (1 + 5)
    for batch_size, result in results.items():
        assert result["device"] == "cpu" and result["threads"] == data["threads"]
        measured = [
            s["latency_ns"] / 1e9
            for s in samples
            if s["batch_size"] == batch_size and s["phase"] == "measured"
        ]
        median = statistics.median(measured)
        assert result["batch_latency_s"]["median"] == pytest.approx(median)
        assert result["images_per_s"] == pytest.approx(batch_size / median)
        assert result["batch_latency_s"]["p90"] >= median
        assert result["gflops_per_s"] == pytest.approx(833_040 * batch_size / median / 1e9)
    again = CliRunner().invoke(top_app, ["report", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == data  # obench report reads what cnn infer wrote


def test_infer_thread_sweep_tables_and_plots(tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    result = invoke(
        "infer", "--model", "lenet", "--batch-sizes", "1,2", "--warmup", "1", "--iterations",
        "3", "--threads", "1,2", "--no-opt", "--out", str(tmp_path), "--plot", str(plots), "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "images/s" in result.stdout and "batches/s" not in result.stdout
    assert "Speed-up over the CPU with 2 threads" in result.stdout
    assert "optimisations: none" in result.stdout
    assert "cuda: not available" in result.stderr or "✓ cuda" in result.stderr
    names = sorted(p.name for p in plots.iterdir())
    assert names == [
        "lenet-dashboard.png",
        "lenet-latency_box.png",
        "lenet-latency_vs_batch.png",
        "lenet-speedup_vs_batch.png",
        "lenet-throughput.png",
    ]
    for path in plots.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke("infer", "--plot", str(tmp_path / "p"), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert "pip install 'ollama-bench[plot]'" in result.stderr
    assert not (tmp_path / "runs").exists()  # refused before measuring


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "vgg"], "unknown model 'vgg'"),
        (["--batch-sizes", "0,2"], "--batch-sizes '0,2': give integers ≥ 1"),
        (["--batch-sizes", "a"], "not a comma-separated list"),
        (["--opt", "fast"], "unknown optimisation fast"),
        (["--opt", "compile", "--threads", "1,2"], "fixes the thread count"),
        (["--devices", "tpu"], "device 'tpu': unknown device"),
    ],
)
def test_infer_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = invoke("infer", *args, "--out", str(tmp_path))
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_asking_for_an_absent_gpu_names_the_reason(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = invoke("infer", "--devices", "cpu,cuda", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "device 'cuda': not available" in result.stderr


def test_parallel_arms_threads_and_ratios(tmp_path: Path) -> None:
    data = json_of(
        invoke(
            "parallel", "--images", "2", "--warmup", "1", "--repetitions", "2", "--threads",
            "2", "--out", str(tmp_path), "--json", "-q",
        )
    )  # fmt: skip
    arms = {a["arm"]: a for a in data["arms"]}
    assert list(arms) == [
        "sequential",
        "1-thread sequential",
        "thread pool",
        "batched",
        "oversubscribed pool",
    ]
    expected = {
        "sequential": (1, 2),
        "1-thread sequential": (1, 1),
        "thread pool": (2, 1),
        "batched": (1, 2),
        "oversubscribed pool": (2, 2),
    }
    for name, (workers, threads) in expected.items():
        arm = arms[name]
        assert (arm["workers"], arm["intra_op_threads"]) == (workers, threads)
        assert arm["threads_seen"] == [threads]  # read inside the calls, not just asked for
        assert arm["passes"] == 2
        assert arm["images_per_s"] == pytest.approx(2 / arm["pass_time_s"]["median"])
    assert arms["sequential"]["vs_sequential"] == pytest.approx(1.0)
    pool = arms["thread pool"]
    ratio = arms["sequential"]["pass_time_s"]["median"] / pool["pass_time_s"]["median"]
    assert pool["vs_sequential"] == pytest.approx(ratio)
    text = " ".join(data["explanation"])
    assert "GIL" in text and "Batched" in text
    samples = [line for line in read_lines(Path(data["run_file"])) if line["kind"] == "sample"]
    assert len(samples) == 5 * (1 + 2)
    again = CliRunner().invoke(top_app, ["report", data["run_file"], "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == data  # obench report reads what cnn parallel wrote


def test_parallel_refuses_compile(tmp_path: Path) -> None:
    result = invoke("parallel", "--opt", "compile", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "bakes the thread count" in result.stderr


def test_run_files_can_be_summarised_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import ollama_bench.cnn.report, ollama_bench.cnn.records\n"
        "import ollama_bench.cnn.parallel_summary, ollama_bench.cnn.train_summary\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
