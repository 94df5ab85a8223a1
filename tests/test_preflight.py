"""Checks before the first request: images that do not decode, very large
images (and --max-image-side), labels of the wrong type, labels naming missing files, images
without labels, and how many images the accuracy rests on."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_ollama import FakeOllama
from PIL import Image
from test_cli_vision import LABELS, answer_from_labels, make_images, read_run, run_cli

Make = Callable[..., FakeOllama]


def one_line_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    return " ".join(lines[0].split())


def sent_images(server: FakeOllama) -> list[bytes]:
    return [
        base64.b64decode(body["messages"][-1]["images"][0])
        for _, path, body in server.requests
        if path == "/api/chat" and body and body.get("messages")
    ]


# -- images that cannot be sent ------------------------------------------------------------------


def test_an_image_that_does_not_decode_is_an_input_error(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    (images / "broken.jpg").write_bytes(bytes(range(256)) * 40)
    server = fake_ollama()
    result = run_cli("--target", f"t={server.url}", "--images", str(images))
    assert result.exit_code == 2
    line = one_line_error(result)
    assert str(images / "broken.jpg") in line and "does not decode" in line
    assert not [p for _, p, _ in server.requests if p == "/api/chat"]


def test_a_truncated_image_is_an_input_error(tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    whole = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(whole, "JPEG")
    (images / "cut.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    result = run_cli("--images", str(images))
    assert result.exit_code == 2 and "cut.jpg" in one_line_error(result)


def test_a_format_ollama_cannot_read_is_an_input_error(tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    Image.new("RGB", (32, 32)).save(images / "anim.png", format="GIF")  # a GIF named .png
    result = run_cli("--images", str(images))
    assert result.exit_code == 2
    line = one_line_error(result)
    assert "anim.png" in line and "GIF" in line and "JPEG" in line


def test_a_very_large_image_is_warned_about_and_can_be_downsized(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images", labels=None)
    Image.new("RGB", (6000, 400), (10, 120, 200)).save(images / "wide.png")
    server = fake_ollama()
    out = tmp_path / "r.jsonl"
    args = ("--target", f"t={server.url}", "--images", str(images), "--runs", "1", "--warmup")
    plain = run_cli(*args, "0", "--out", str(tmp_path / "plain.jsonl"), "--json")
    assert plain.exit_code == 0, plain.output
    warned = " ".join(plain.stderr.split())
    assert "wide.png is 6000×400 px" in warned and "--max-image-side" in warned
    codes = {w["code"] for w in json.loads(plain.stdout)["warnings"]}
    assert "large-image" in codes

    server.requests.clear()
    result = run_cli(*args, "0", "--max-image-side", "1120", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert "wide.png is 6000×400" not in result.stderr
    header = read_run(out)[0]
    assert header["settings"]["max_image_side_px"] == 1120
    wide = next(i for i in header["images"] if i["name"] == "wide.png")
    assert (wide["width_px"], wide["height_px"]) == (6000, 400)
    assert (wide["sent_width_px"], wide["sent_height_px"]) == (1120, 75)
    sent = next(b for b in sent_images(server) if Image.open(io.BytesIO(b)).size == (1120, 75))
    assert hashlib.sha256(sent).hexdigest() == wide["sent_sha256"]
    assert len(sent) == wide["sent_size_bytes"] and Image.open(io.BytesIO(sent)).format == "PNG"
    small = next(i for i in header["images"] if i["name"] == "day.png")
    assert small["sent_sha256"] is None  # 64×48: sent as it is
    samples = [r for r in read_run(out) if r["kind"] == "sample"]
    assert {s["image_sha256"] for s in samples if s["image"] == "wide.png"} == {wide["sent_sha256"]}


def test_resize_longest_side_keeps_format_and_aspect() -> None:
    from ollama_bench.vision import imaging

    for fmt in ("JPEG", "PNG", "WEBP"):
        buffer = io.BytesIO()
        Image.new("RGB", (900, 600), (200, 30, 30)).save(buffer, format=fmt)
        smaller = imaging.resize_longest_side(buffer.getvalue(), 300)
        image = Image.open(io.BytesIO(smaller))
        assert (image.format, image.size) == (fmt, (300, 200))
    tall = io.BytesIO()
    Image.new("L", (10, 1000)).save(tall, format="PNG")
    assert Image.open(io.BytesIO(imaging.resize_longest_side(tall.getvalue(), 50))).size == (
        1,
        50,
    )


# -- labels --------------------------------------------------------------------------------------


def test_labels_of_the_wrong_type_are_an_input_error(tmp_path: Path) -> None:
    labels = {**LABELS, "night.png": {**LABELS["night.png"], "traffic_level": "high"}}
    images = make_images(tmp_path / "images", labels=labels)
    result = run_cli("--images", str(images))
    assert result.exit_code == 2
    line = one_line_error(result)
    assert str(images / "labels.json") in line and "night.png" in line
    assert "traffic_level" in line


def test_labels_for_missing_files_and_unlabelled_images_are_reported(
    fake_ollama: Make, tmp_path: Path
) -> None:
    labels = {"day.png": LABELS["day.png"], "gone.png": LABELS["night.png"]}
    images = make_images(tmp_path / "images", labels=labels)
    server = fake_ollama(reply=answer_from_labels(images))
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "1"),
        *("--warmup", "0", "--out", str(tmp_path / "r.jsonl"), "--json"),
    )
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.stderr.split())
    assert "labels.json names 1 file that is not there: gone.png" in stderr
    assert "1 of 2 images has no label (night.png)" in stderr
    summary = json.loads(result.stdout)
    assert {"missing-images", "unlabelled"} <= {w["code"] for w in summary["warnings"]}
    (target,) = summary["targets"]
    assert target["accuracy_images"] == 1  # the accuracy rests on day.png alone


def test_accuracy_says_how_many_images_it_rests_on(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images))
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "1"),
        *("--warmup", "0", "--out", str(tmp_path / "r.jsonl")),
    )
    assert result.exit_code == 0, result.output
    assert "100% (2 images)" in result.stdout


@pytest.mark.parametrize("scenario", ["cctv", "products"])
def test_bundled_images_and_labels_pass(scenario: str) -> None:
    from ollama_bench.vision import imaging
    from ollama_bench.vision.preflight import check
    from ollama_bench.vision.scenarios import load_scenario

    loaded = load_scenario(scenario)
    assert check(loaded) == []
    assert all(image.picture.format in imaging.OLLAMA_FORMATS for image in loaded.images)
