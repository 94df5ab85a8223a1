"""`obench cnn train`: digits accuracy, 2-worker DDP on gloo with equal weights, image folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ollama_bench.cli import app as top_app
from ollama_bench.cnn.cli import app
from ollama_bench.store import read_lines

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["train", *args])


def json_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_lenet_on_digits_reaches_90_percent_in_10_epochs(tmp_path: Path) -> None:
    # One intra-op thread: batches this small gain nothing from two, and two threads spin against
    # each other on a machine busy with other work (a forward pass then takes ms, not µs).
    args = ("--epochs", "10", "--threads", "1", "--out", str(tmp_path), "--json", "-q")
    data = json_of(invoke(*args))
    assert data["model"] == "lenet (8×8)"
    assert data["dataset"] == "sklearn digits 8×8"
    assert (data["train_size"], data["test_size"]) == (1347, 450)  # fixed, stratified split
    assert data["workers"] == 1 and data["epochs"] == 10
    assert data["test_accuracy"] >= 0.90
    assert data["train_time_s"] == pytest.approx(sum(r["train_time_s"] for r in data["runs"]))
    assert data["epoch_time_s"]["median"] > 0
    assert data["scaling"] is None and data["weights_identical"] is None
    epochs = [line for line in read_lines(Path(data["run_file"])) if line["kind"] == "sample"]
    assert [e["epoch"] for e in epochs] == list(range(1, 11))
    assert epochs[-1]["test_accuracy"] == pytest.approx(data["test_accuracy"])
    if data["time_to_target_s"] is not None:
        reached = data["runs"][0]["epoch_reaching_target"]
        assert epochs[reached - 1]["test_accuracy"] >= 0.95
        assert all(e["test_accuracy"] < 0.95 for e in epochs[: reached - 1])


def test_two_ddp_workers_on_gloo_end_with_identical_weights(tmp_path: Path) -> None:
    data = json_of(
        invoke("--workers", "2", "--epochs", "2", "--out", str(tmp_path), "--json", "-q")
    )
    assert data["workers"] == 2
    assert [r["workers"] for r in data["runs"]] == [1, 2]  # the 1-worker baseline first
    assert data["weights_identical"] is True
    assert data["runs"][1]["weights_identical"] is True
    assert data["scaling"]["workers"] == 2
    one, two = (r["epoch_time_s"]["median"] for r in data["runs"])
    assert data["scaling"]["speedup"] == pytest.approx(one / two)
    assert data["explanation"]
    again = CliRunner().invoke(top_app, ["report", data["run_file"], "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == data  # weights_identical too: the footer keeps it
    header = read_lines(Path(data["run_file"]))[0]
    assert header["workers"] == [1, 2]
    assert header["threads"]["2 workers"] == max(1, header["threads"]["1 worker"] // 2)


def test_same_weights_detects_a_difference() -> None:
    from ollama_bench.cnn.train import _same_weights

    a = {"w": torch.ones(2)}
    assert _same_weights([a, {"w": torch.ones(2)}])
    assert not _same_weights([a, {"w": torch.tensor([1.0, 1.0001])}])
    assert not _same_weights([a, {"v": torch.ones(2)}])


def make_folder(root: Path, classes: dict[str, int]) -> Path:
    from PIL import Image

    for index, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            colour = (200 if index == 0 else 20, 40 + i, 200 if index else 20)
            Image.new("RGB", (20 + i, 16), colour).save(root / name / f"{i}.png")
    return root


def test_image_folder_trains_a_small_cnn(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data", {"red": 8, "blue": 8})
    (root / "red" / "notes.txt").write_text("not an image")
    data = json_of(
        invoke("--data", str(root), "--epochs", "3", "--out", str(tmp_path), "--json", "-q")
    )
    assert data["model"] == "smallcnn (64×64 RGB)"
    assert data["classes"] == 2
    assert (data["train_size"], data["test_size"]) == (12, 4)  # a quarter of each class
    assert 0.0 <= data["test_accuracy"] <= 1.0


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (None, "does not exist"),
        ({}, "has no class folder with images"),
        ({"a": 3}, "has 1 class folder with images; training needs at least 2 classes"),
        ({"a": 3, "b": 1}, "class 'b' in"),
    ],
)
def test_bad_image_folders_are_one_line_usage_errors(
    classes: dict[str, int] | None, message: str, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    if classes is not None:
        root.mkdir()
        make_folder(root, classes)
    result = invoke("--data", str(root), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()


def test_cuda_device_without_cuda_is_a_usage_error(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = invoke("--device", "cuda", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "--device cuda: not available" in result.stderr
