"""obench compare: two vision runs of one scenario, paired by target and image. Run B's GPU
server is twice as fast as run A's (a known, injected change) and runs another version; the CPU
server is the same in both."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_ollama import FakeOllama
from PIL import Image
from report_runs import with_servers
from test_cli_vision import answer_from_labels, make_images
from typer.testing import CliRunner, Result

from ollama_bench.cli import app
from ollama_bench.views.compare_tables import image_table
from ollama_bench.vision.compare import TargetChange
from ollama_bench.vision.summary import ImageComparison

# run A's GPU server: 0.04 s + 20 tokens × 4 ms = 0.12 s a request; run B's takes half that,
# long enough against the client's own cost per request (1–3 ms, 20 ms and more on a busy
# machine) that the speed-up stays near 2: (120 + 20) / (60 + 20) = 1.75
DELAYS = {"prompt_eval_s": 0.04, "token_delay_s": 0.004}


def compare(*args: str) -> Result:
    return CliRunner().invoke(app, ["compare", *args], env={"COLUMNS": "160"})


def vision(out: Path, images: Path, gpu: FakeOllama, cpu: FakeOllama, runs: int = 4) -> Path:
    result = CliRunner().invoke(
        app,
        [
            "vision",
            *("--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}"),
            *("--images", str(images), "--runs", str(runs), "--warmup", "1"),
            *("--out", str(out), "--quiet", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def three_runs(make: Callable[..., FakeOllama], folder: Path) -> dict[str, Path]:
    """Runs A and B (B's GPU server twice as fast, another version) and a run of other images."""
    images = make_images(folder / "images")
    more = make_images(folder / "more")
    Image.new("RGB", (64, 48), (200, 10, 10)).save(more / "extra.png")
    reply = answer_from_labels(images)

    def answer(body: dict[str, Any]) -> str:
        try:
            return reply(body)
        except KeyError:  # extra.png has no label
            return '{"title": "x", "datetime": "2024-01-01T00:00:00", "traffic_level": 1}'

    def server(scale: float, version: str = "0.24.0") -> FakeOllama:
        delays = {k: v * scale for k, v in DELAYS.items()}
        return make(reply=answer, jitter=0.03, version=version, **delays)

    gpu_a, gpu_b, cpu = server(1.0), server(0.5, version="0.24.1"), server(2.0)
    return {
        "a": vision(folder / "a.jsonl", images, gpu_a, cpu),
        "b": vision(folder / "b.jsonl", images, gpu_b, cpu),
        "other images": vision(folder / "c.jsonl", more, gpu_a, cpu, runs=2),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return with_servers(three_runs, tmp_path_factory.mktemp("compare"))


def test_a_twice_as_fast_server_is_measured_twice_as_fast(runs: dict[str, Path]) -> None:
    result = compare(str(runs["a"]), str(runs["b"]), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    targets = {t["target"]: t for t in data["targets"]}
    gpu = targets["gpu"]["metrics"]["latency"]
    # the injected delays halve; the client's own cost per request (see DELAYS) does not
    assert 1.6 < gpu["speedup"] < 2.2 and gpu["verdict"] == "faster"
    assert gpu["ci95"][0] < gpu["speedup"] < gpu["ci95"][1]
    assert targets["gpu"]["metrics"]["decode_rate"]["speedup"] == pytest.approx(2.0, rel=0.15)
    assert [i["image"] for i in gpu["images"]] == ["day.png", "night.png"]
    cpu = targets["cpu"]["metrics"]["latency"]
    assert 0.85 < cpu["speedup"] < 1.18  # the same server in both runs
    assert targets["gpu"]["quality"]["overall"]["delta"] == pytest.approx(0.0)
    assert targets["gpu"]["identical_reply_rate"] == 1.0
    a, b = targets["gpu"]["medians"]["latency"]
    assert a / b == pytest.approx(2.0, rel=0.2)


def test_differences_that_may_be_the_change_are_named(runs: dict[str, Path]) -> None:
    result = compare(str(runs["a"]), str(runs["b"]))
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "gpu version differs: 0.24.0 in the first run, 0.24.1 in the second" in text
    assert "gpu url differs" in text and "cpu url" not in text
    assert "Change from the first run (A) to the second (B)" in text


def test_different_images_are_refused_in_one_line(runs: dict[str, Path]) -> None:
    result = compare(str(runs["a"]), str(runs["other images"]))
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "image extra.png is in the second run only" in line and "--force" in line


def test_force_pairs_the_images_both_ran(runs: dict[str, Path]) -> None:
    result = compare(str(runs["a"]), str(runs["other images"]), "--force", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["forced"] is True and data["images"] == ["day.png", "night.png"]
    assert "compared with --force" in data["warnings"][0]


def test_html_has_a_forest_and_a_quality_figure_per_target(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "c.html"
    result = compare(str(runs["a"]), str(runs["b"]), "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("<figure") == 4 and "run B against run A" in page
    assert "<script" not in page
    assert "on gpu run B is" in page  # the verdict opens the page


def test_only_vision_runs_compare(runs: dict[str, Path], tmp_path: Path) -> None:
    from report_runs import cnn_train_run

    train = cnn_train_run(tmp_path / "train.jsonl")
    result = compare(str(runs["a"]), str(train))
    assert result.exit_code == 2 and "cnn-train run" in result.stderr


@pytest.mark.parametrize("outlier", [False, True])
def test_the_note_column_shows_only_when_an_image_is_far_from_the_rest(outlier: bool) -> None:
    def image(name: str, a_s: float, far: bool) -> ImageComparison:
        return ImageComparison(
            image=name, baseline_s=a_s, target_s=0.1, speedup=a_s / 0.1,
            baseline_n=3, target_n=3, outlier=far,
        )  # fmt: skip

    change = TargetChange(
        target="gpu",
        requests=(6, 6),
        failed=(0, 0),
        medians={},
        metrics={},
        images=[image("day.png", 0.2, False), image("night.png", 0.9, outlier)],
        valid_rate=(1.0, 1.0),
        accuracy=(1.0, 1.0),
    )
    table = image_table(change)
    headers = [str(c.header) for c in table.columns]
    assert headers[:5] == ["image", "A", "B", "B vs A", "n A / B"]
    assert headers[5:] == (["note"] if outlier else [])
    if outlier:
        assert list(table.columns[5].cells) == ["", "[yellow]far from the rest[/yellow]"]
