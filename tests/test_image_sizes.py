"""The image-size sweep: resized copies, what the server receives, prompt tokens, the tables."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_ollama import FakeOllama
from PIL import Image
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.views.tables import fmt_verdict, size_tables
from ollama_bench.vision.imaging import resize_longest_side
from ollama_bench.vision.scenarios import load_scenario
from ollama_bench.vision.sizes import sized_name, sized_scenario
from ollama_bench.vision.summary import RunSummary

Make = Callable[..., FakeOllama]
SIZES = (448, 672, 896, 1120)
PATCH_PX = 28  # the fake counts ceil(w/28) × ceil(h/28) tokens per image, as Qwen2.5-VL does


def dimensions(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize("name", ["cctv_01.jpg", "tent.png"])
def test_resize_keeps_aspect_and_format_up_and_down(name: str) -> None:
    scenario = load_scenario("cctv" if name.startswith("cctv") else "products")
    original = next(i for i in scenario.images if i.name == name).data
    width, height = dimensions(original)
    with Image.open(io.BytesIO(original)) as image:
        kind = image.format
    for side in (300, *SIZES):
        resized = resize_longest_side(original, side)
        w, h = dimensions(resized)
        assert max(w, h) == side
        assert w / h == pytest.approx(width / height, rel=0.01)
        with Image.open(io.BytesIO(resized)) as image:
            assert image.format == kind


def test_sizes_and_max_image_side_cannot_both_be_given() -> None:
    args = ["vision", "--image-sizes", "448", "--max-image-side", "896", "-t", "x=http://h:1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--image-sizes and --max-image-side both choose the size" in result.output


def test_sized_scenario_copies_every_image_per_size_with_its_label() -> None:
    scenario = load_scenario("cctv")
    sized = sized_scenario(scenario, [896, 448])
    assert len(sized.images) == 2 * len(scenario.images)
    assert [i.name for i in sized.images[:2]] == ["cctv_01@448px.jpg", "cctv_02@448px.jpg"]
    assert sized_name("a.b.png", 672) == "a.b@672px.png"
    first = sized.images[0]
    assert sized.labels[first.name] == scenario.labels["cctv_01.jpg"]
    info = first.info()
    assert (info.side_px, info.source) == (448, "cctv_01.jpg")
    assert info.sent_sha256 == hashlib.sha256(first.data).hexdigest() != info.sha256
    assert info.sha256 == scenario.images[0].sha256  # the file's, as for any image
    assert (info.sent_width_px, info.sent_height_px, info.sent_size_bytes) == (
        448,
        252,
        len(first.data),
    )


def test_sweep_sends_bigger_images_counts_their_tokens_and_orders_the_table(
    fake_ollama: Make, tmp_path: Path
) -> None:
    folder = two_frames(tmp_path / "frames")
    reply = json.dumps(load_scenario("cctv").labels["cctv_01.jpg"])  # right for one frame of two
    gpu = fake_ollama(image_patch_px=PATCH_PX, prompt_token_s=1e-4, token_delay_s=1e-3, reply=reply)
    cpu = fake_ollama(image_patch_px=PATCH_PX, prompt_token_s=4e-4, token_delay_s=1e-3, reply=reply)
    out = tmp_path / "run.jsonl"
    args = ["vision", "-q", "--runs", "1", "--warmup", "0", "--out", str(out), "--images", folder]
    args += ["-t", f"gpu={gpu.url}", "-t", f"cpu={cpu.url}", "--image-sizes", "896,448,1120,672"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    header = lines[0]
    assert header["image_sizes"] == [448, 672, 896, 1120]  # sorted, as the table is
    by_name = {i["name"]: i for i in header["images"]}
    assert len(by_name) == 2 * len(SIZES)

    # What the gpu server received: the copy named in the header, byte for byte, per size.
    received: dict[int, list[int]] = {}
    for _, path, body in gpu.requests:
        if path != "/api/chat" or not body or not body.get("messages"):
            continue
        data = base64.b64decode(body["messages"][0]["images"][0])
        sent = hashlib.sha256(data).hexdigest()
        copy = next(i for i in by_name.values() if i["sent_sha256"] == sent)
        assert copy["sent_size_bytes"] == len(data)
        received.setdefault(copy["side_px"], []).append(len(data))
        w, h = dimensions(data)
        assert max(w, h) == copy["side_px"]
    assert sorted(received) == list(SIZES)
    medians = [sorted(received[side])[len(received[side]) // 2] for side in SIZES]
    assert medians == sorted(medians) and medians[0] < medians[-1] / 3

    # Prompt tokens follow the server's rule: the same text tokens, plus one per 28 px square.
    text_tokens = set()
    for s in (r for r in lines if r["kind"] == "sample"):
        side = by_name[s["image"]]["side_px"]
        width, height = side, round(side * 360 / 640)  # the cctv frames are 640×360
        image_tokens = math.ceil(width / PATCH_PX) * math.ceil(height / PATCH_PX)
        text_tokens.add(s["timing"]["server"]["prompt_eval_count"] - image_tokens)
    assert len(text_tokens) == 1 and min(text_tokens) > 10

    sweep = json.loads(result.stdout)["sizes"]
    rows = sweep["rows"]
    assert [(r["side_px"], r["target"]) for r in rows] == [
        (side, name) for side in SIZES for name in ("gpu", "cpu")
    ]
    tokens = [r["prompt_tokens_median"] for r in rows if r["target"] == "gpu"]
    assert tokens == sorted(tokens) and tokens[-1] > 3 * tokens[0]
    cpu_latency = [r["latency_median_s"] for r in rows if r["target"] == "cpu"]
    assert cpu_latency == sorted(cpu_latency)  # prefill grows with the image's tokens
    assert {r["accuracy"] for r in rows} == {rows[0]["accuracy"]} and 0.5 <= rows[0]["accuracy"] < 1
    assert [c["side_px"] for c in sweep["comparisons"]] == list(SIZES)
    speedups = [c["speedup"] for c in sweep["comparisons"]]
    assert speedups[-1] > speedups[0] > 1  # the cpu's slower prefill weighs more on big images

    table = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"}).stdout
    assert "By image size (longest side)" in table and "Speed-up by image size" in table
    positions = [table.index(f"{side} px") for side in SIZES]
    assert positions == sorted(positions)
    _, speed = size_tables(RunSummary.model_validate_json(result.stdout))
    verdicts = [c["verdict"] for c in sweep["comparisons"]]
    assert list(speed.columns[-1].cells) == [fmt_verdict(v) for v in verdicts]  # coloured


def two_frames(folder: Path) -> str:
    """Two of the bundled road-camera frames and their labels, in a folder of their own."""
    scenario = load_scenario("cctv")
    folder.mkdir()
    for image in scenario.images[:2]:
        (folder / image.name).write_bytes(image.data)
    labels = {i.name: scenario.labels[i.name] for i in scenario.images[:2]}
    (folder / "labels.json").write_text(json.dumps(labels))
    return str(folder)


def test_bad_sizes_exit_2_in_one_line() -> None:
    result = CliRunner().invoke(app, ["vision", "--image-sizes", "448,big", "-t", "x=http://h:1"])
    assert result.exit_code == 2
    assert "--image-sizes: 'big' is not a number" in result.output
    assert re.search(r"e\.g\. --image-sizes 448,672,896,1120", result.output)


def test_a_sweep_resumes_with_its_copies_and_no_other_sizes(
    fake_ollama: Make, tmp_path: Path
) -> None:
    folder = two_frames(tmp_path / "frames")
    server = fake_ollama(image_patch_px=PATCH_PX)
    out = tmp_path / "run.jsonl"
    args = ["vision", "-q", "--runs", "1", "--warmup", "0", "-t", f"gpu={server.url}"]
    args += ["--images", folder, "--image-sizes", "448,896", "--out", str(out), "--json"]
    assert CliRunner().invoke(app, args).exit_code == 0
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-3]) + "\n")  # as if killed: two samples short, no footer
    other = CliRunner().invoke(app, ["vision", "--resume", str(out), "--image-sizes", "448"])
    assert other.exit_code == 2 and "--image-sizes" in other.output
    result = CliRunner().invoke(app, ["vision", "--resume", str(out), "--json"])
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in out.read_text().splitlines()]
    names = sorted(s["image"] for s in samples if s["kind"] == "sample")
    assert names == [
        "cctv_01@448px.jpg",
        "cctv_01@896px.jpg",
        "cctv_02@448px.jpg",
        "cctv_02@896px.jpg",
    ]
    rows = json.loads(result.stdout)["sizes"]["rows"]
    assert [(r["side_px"], r["requests"]) for r in rows] == [(448, 2), (896, 2)]
