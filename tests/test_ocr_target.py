"""The OCR baseline target: parsing, what it refuses, and real inference on the bundled frames.

The last tests run RapidOCR for real (PP-OCRv4 on onnxruntime, no mock) on images/cctv.
rapidocr_onnxruntime 1.4.4 is in the test extra; it supports Python 3.12 and older only.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_ollama import FakeOllama, bundled_reply
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.errors import UsageError
from ollama_bench.models import RequestSettings, Timing
from ollama_bench.targets import open_target
from ollama_bench.targets.base import Exchange
from ollama_bench.targets.ocr import DEFAULT_THREADS, OcrTarget
from ollama_bench.targets.spec import parse_target, parse_targets
from ollama_bench.vision.runner import judge
from ollama_bench.vision.scenarios import load_scenario

ROOT = Path(__file__).resolve().parent.parent
CCTV_DIR = ROOT / "images" / "cctv"
LABELS: dict[str, dict[str, Any]] = json.loads((CCTV_DIR / "labels.json").read_text())
needs_ocr = pytest.mark.skipif(
    sys.version_info >= (3, 13), reason="rapidocr_onnxruntime 1.4.4 supports Python < 3.13"
)


def test_target_spec() -> None:
    spec = parse_target("ocr=ocr")
    assert (spec.name, spec.url, spec.api) == ("ocr", "in-process", "ocr")
    assert spec.options == {"threads": DEFAULT_THREADS}
    assert parse_target("base=OCR,threads=1").options == {"threads": 1}
    assert parse_target("cpu=http://localhost:11435").api == "ollama"
    names = [t.name for t in parse_targets(["cpu=http://h:11435", "ocr=ocr"])]
    assert names == ["cpu", "ocr"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("ocr=ocr,num_gpu=0", "has no option 'num_gpu'"),
        ("ocr=ocr,threads=0", "threads=0 is not a whole number"),
        ("ocr=ocr,threads=two", "threads='two'"),
        (f"ocr=ocr,threads={(os.cpu_count() or 1) + 1}", "is not a whole number from 1"),
        ("o cr=ocr", "must be letters"),
    ],
)
def test_bad_ocr_specs_are_one_line_errors(spec: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse_target(spec)


def test_unanswered_field_is_neither_required_nor_scored() -> None:
    scenario = load_scenario("cctv")
    label = scenario.labels["cctv_02.jpg"]
    reply = json.dumps({"title": "CAM08-15AP-7KM342.1CASTELLON", "datetime": label["datetime"]})
    ocr = Exchange(reply, Timing(latency_ns=1), None, unanswered=("traffic_level",))
    validation, score = judge(scenario, ocr, label)
    assert validation is not None and validation.valid and validation.errors == []
    assert score == {"title": 1.0, "datetime": 1.0, "overall": 1.0}
    # the same reply from a target that should answer traffic_level is invalid and scores 0 there
    vlm = Exchange(reply, Timing(latency_ns=1), None)
    validation, score = judge(scenario, vlm, label)
    assert validation is not None and not validation.valid
    assert [e.path for e in validation.errors] == ["traffic_level"]
    assert score is not None and score["traffic_level"] == 0.0
    assert score["overall"] == pytest.approx(2 / 3)
    # a stamp the OCR could not parse is still wrong: invalid and 0
    misread = json.dumps({"title": "x", "datetime": "22-11-2O2421:47:19"})
    validation, score = judge(
        scenario, Exchange(misread, Timing(latency_ns=1), None, ("traffic_level",)), label
    )
    assert validation is not None and [e.path for e in validation.errors] == ["datetime"]
    assert score is not None and score["datetime"] == 0.0


def test_user_scenario_ocr_section(tmp_path: Path) -> None:
    images = tmp_path / "frames"
    images.mkdir()
    (images / "a.jpg").write_bytes((CCTV_DIR / "cctv_01.jpg").read_bytes())
    schema = {
        "type": "object",
        "properties": {"camera": {"type": "string"}, "stamp": {"type": "string"}},
    }
    spec = {
        "name": "cams",
        "prompt": "read",
        "schema": schema,
        "images": "frames",
        "ocr": {
            "camera": {"region": "top-left"},
            "stamp": {"region": "bottom-right", "read": "datetime"},
        },
    }
    path = tmp_path / "cams.json"
    path.write_text(json.dumps(spec))
    task = load_scenario(str(path)).overlay_task()
    assert task.fields == ("camera", "stamp") and task.unanswered == ()
    assert task.mapping is not None and task.mapping["stamp"].read == "datetime"
    for section, says in (
        ({"plate": {"region": "top-left"}}, "ocr.plate is not a top-level property"),
        ({"camera": {"region": "middle"}}, "ocr.camera.region"),
        ({"camera": "top-left"}, "ocr.camera"),
        ([], "'ocr' must map reply fields"),
    ):
        path.write_text(json.dumps({**spec, "ocr": section}))
        with pytest.raises(UsageError, match=says):
            load_scenario(str(path))
    path.write_text(json.dumps({k: v for k, v in spec.items() if k != "ocr"}))
    assert load_scenario(str(path)).overlay_task().mapping is None


def test_products_are_refused_before_any_request() -> None:
    products = load_scenario("products")
    target = open_target(
        parse_target("ocr=ocr"), RequestSettings(model="m"), products.overlay_task()
    )
    assert isinstance(target, OcrTarget)
    info = asyncio.run(target.probe())
    assert not info.usable and info.error is not None
    assert "products has no overlay to read" in info.error and "\n" not in info.error


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_products_with_only_ocr_exits_3_in_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "vision", "--scenario", "products", "--target", "ocr=ocr", "--out", str(tmp_path)
    )
    assert result.exit_code == 3
    assert "ocr: OCR reads text overlaid on a frame and products has no overlay" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())


def test_server_commands_skip_the_ocr_target() -> None:
    result = run_cli("doctor", "--target", "ocr=ocr")
    assert result.exit_code == 2
    assert (
        "every --target here runs in-process" in result.output and "Traceback" not in result.output
    )


@needs_ocr
def test_ocr_baseline_reads_the_bundled_frames_for_real(
    fake_ollama: Callable[..., FakeOllama], tmp_path: Path
) -> None:
    cpu = fake_ollama(
        reply=bundled_reply(),  # each frame's label, its traffic level off by 0 or ±7
        prompt_eval_s=0.05,
        token_delay_s=0.002,
        jitter=0.05,
        seed=3,
    )
    out = tmp_path / "run.jsonl"
    runs = 2
    result = run_cli(
        "vision",
        "--scenario",
        "cctv",
        "--target",
        f"cpu={cpu.url}",
        "--target",
        "ocr=ocr",
        "--runs",
        str(runs),
        "--warmup",
        "1",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    header, footer = lines[0], lines[-1]
    samples = [line for line in lines if line["kind"] == "sample"]
    ocr_samples = [s for s in samples if s["target"] == "ocr"]
    measured = [s for s in ocr_samples if s["phase"] == "measured"]
    assert len(measured) == runs * len(LABELS) and footer["interrupted"] is False

    # the header says what ran: the package, its models and the thread count
    (info,) = [t for t in header["targets"] if t["name"] == "ocr"]
    assert info["api"] == "ocr" and info["url"] == "in-process"
    assert info["version"].startswith("rapidocr_onnxruntime 1.4.4")
    assert info["options"] == {"threads": DEFAULT_THREADS}
    assert len(info["model_digest"]) == 64 and info["model_size_bytes"] > 10_000_000
    assert "PP-OCRv4_det" in info["model_family"] and "onnxruntime" in info["model_family"]
    assert info["placement"]["processor"] == "cpu"

    # every request timed by the client; no server, so no server timings or TTFT (null, not 0)
    for s in ocr_samples:
        assert s["ok"] and s["timing"]["latency_ns"] > 0
        assert s["timing"]["server"] is None and s["timing"]["ttft_ns"] is None
        assert s["unanswered"] == ["traffic_level"]
        boxes = s["text_boxes"]
        assert len(boxes) >= 2 and all(0.5 <= b["confidence"] <= 1 for b in boxes)
        assert all(len(b["points"]) == 4 for b in boxes)
        reply = json.loads(s["reply"])
        assert set(reply) == {"title", "datetime"}
        assert set(s["score"]) == {"title", "datetime", "overall"}

    by_name = {t["name"]: t for t in summary["targets"]}
    ocr = by_name["ocr"]
    assert ocr["samples"] == runs * len(LABELS) and ocr["failed"] == 0
    assert ocr["accuracy"]["title"] >= 0.9 and ocr["accuracy"]["datetime"] >= 0.9
    assert ocr["accuracy"]["traffic_level"] is None and ocr["unanswered"] == ["traffic_level"]
    assert ocr["latency_s"]["n"] == runs * len(LABELS) and ocr["latency_s"]["median"] > 0
    assert ocr["ttft_s"]["n"] == 0 and ocr["decode_tokens_per_s"]["n"] == 0
    assert ocr["repeat_identical_rate"] == 1.0  # the same frame reads the same every time
    (comparison,) = summary["comparisons"]
    assert (comparison["target"], comparison["baseline"]) == ("ocr", "cpu")
    # the speed-up is the geometric mean over frames of cpu's median latency over ocr's; its
    # interval holds it, and the verdict is the interval's side of 1
    latencies: dict[tuple[str, str], list[int]] = {}
    for s in samples:
        if s["phase"] == "measured":
            latencies.setdefault((s["target"], s["image"]), []).append(s["timing"]["latency_ns"])
    ratios = [
        statistics.median(latencies["cpu", image]) / statistics.median(latencies["ocr", image])
        for image in LABELS
    ]
    assert comparison["speedup"] == pytest.approx(statistics.geometric_mean(ratios), rel=1e-6)
    low, high = comparison["ci95"]
    assert low <= comparison["speedup"] <= high
    side = "faster" if low > 1 else "slower" if high < 1 else "no clear difference"
    assert comparison["verdict"] == side
    assert "traffic_level" not in comparison["quality"]
    assert set(comparison["quality"]) == {"overall", "valid_rate", "title", "datetime"}
    assert comparison["identical_reply_pairs"] == runs * len(LABELS)

    # the stored run summarises to the same figures, and its tables show the OCR target
    again = run_cli("report", str(out), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["targets"] == summary["targets"]
    tables = run_cli("report", str(out))
    text = " ".join(tables.stdout.split())
    assert "in-process" in text and "not answered" in text and "ocr vs cpu" in text
    assert "(2 of 3 fields)" in text and "Speed-up" in text
