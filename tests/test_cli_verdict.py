"""Paired verdicts, --until-ci and --resume end to end, against test servers whose speed depends
on the image: three images taking 1×, 1.8× and 3× as long, on a server 1.25× slower than the
other on every one of them."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fake_ollama import FakeModel, FakeOllama
from PIL import Image
from test_cli_vision import Make, read_run, run_cli
from typer.testing import CliRunner

from ollama_bench.cli import app

RATIO = 1.25
FACTORS = {"a.png": 1.0, "b.png": 1.8, "c.png": 3.0}
REPLY = '{"title": "CAM 01 NORTE", "datetime": "2024-11-20T15:45:12", "traffic_level": 20}'


def make_images(folder: Path) -> dict[str, float]:
    """Three images; returns their sha256 → delay factor, for the test servers."""
    folder.mkdir(parents=True, exist_ok=True)
    factors = {}
    for i, (name, factor) in enumerate(FACTORS.items()):
        Image.new("RGB", (64, 48), (60 * i, 90, 160)).save(folder / name)
        factors[hashlib.sha256((folder / name).read_bytes()).hexdigest()] = factor
    return factors


def servers(make: Make, factors: dict[str, float], **config: Any) -> tuple[FakeOllama, FakeOllama]:
    """gpu, and cpu 1.25× slower on every image: prompt processing and every token.

    Both draw their jitter from the same seed, so the k-th request to each (the same image) gets
    the same noise, as drift on a shared machine would give it: the true ratio is then 1.25
    request by request, and the jitter widens the interval without moving the estimate. What is
    left to bias it is the client's and the machine's own delay, added alike to both servers
    (5% of the estimate was seen with two cores under a load of 6); with ±30% jitter the
    interval is about ±11% wide, room for that. How often the interval covers the truth under
    independent noise is tested on simulated runs (test_verdict_simulation.py); here the whole
    path from servers to summary is.
    """
    prompt_s, token_s = config.pop("prompt_eval_s", 0.05), config.pop("token_delay_s", 0.002)
    common = {"reply": REPLY, "image_factors": factors, "jitter": 0.3, "seed": 1, **config}
    gpu = make(prompt_eval_s=prompt_s, token_delay_s=token_s, **common)
    cpu = make(prompt_eval_s=prompt_s * RATIO, token_delay_s=token_s * RATIO, **common)
    return gpu, cpu


def measured(path: Path) -> list[dict[str, Any]]:
    return [r for r in read_run(path) if r["kind"] == "sample" and r["phase"] == "measured"]


def test_a_known_ratio_is_found_for_every_metric_and_image(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    gpu, cpu = servers(fake_ollama, make_images(images))
    out = tmp_path / "run.jsonl"
    result = run_cli(
        *("--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}"),
        *("--images", str(images), "--runs", "3", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (c,) = summary["comparisons"]
    low, high = c["ci95"]
    assert c["verdict"] == "faster" and low <= RATIO <= high, c
    latency = c["metrics"]["latency"]
    assert latency | {"images": None} == {
        "speedup": c["speedup"],
        "ci95": c["ci95"],
        "verdict": "faster",
        "images": None,
    }
    for image in latency["images"]:  # each image's own ratio, inside its own interval
        low, high = image["ci95"]
        assert low < image["speedup"] < high and image["speedup"] == pytest.approx(RATIO, rel=0.1)
    for metric in ("ttft", "prompt_rate", "decode_rate"):  # rates are target / baseline
        assert c["metrics"][metric]["speedup"] == pytest.approx(RATIO, rel=0.1), metric
        assert c["metrics"][metric]["verdict"] == "faster"
    by_image = {i["image"]: i for i in c["images"]}
    assert set(by_image) == set(FACTORS) and not any(i["outlier"] for i in c["images"])
    assert by_image["c.png"]["baseline_s"] > 2 * by_image["a.png"]["baseline_s"]
    assert all(i["speedup"] == pytest.approx(RATIO, rel=0.1) for i in c["images"])
    assert all((i["baseline_n"], i["target_n"]) == (3, 3) for i in c["images"])
    assert summary["stop"]["reason"] == "runs" and summary["stop"]["rounds"] == 3
    again = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert again.exit_code == 0
    shown = " ".join(again.stdout.split())
    for text in ("Latency by image: gpu vs cpu", "decode tokens/s", "stop: 3 rounds"):
        assert text in shown


def test_until_ci_adds_rounds_until_precise(fake_ollama: Make, tmp_path: Path) -> None:
    images = tmp_path / "images"
    factors = make_images(images)
    gpu, cpu = servers(fake_ollama, factors, prompt_eval_s=0.04, token_delay_s=0.0, jitter=0.05)
    out = tmp_path / "run.jsonl"
    result = run_cli(
        *("--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}"),
        *("--images", str(images), "--runs", "1", "--until-ci", "5", "--max-runs", "12"),
        *("--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (c,) = summary["comparisons"]
    # one round gives no interval, so rounds were added; it stopped before --max-runs
    stop = summary["stop"]
    assert stop["reason"] == "precision" and 2 <= stop["rounds"] < 12, stop
    low, high = c["ci95"]
    assert stop["half_width_pct"] <= 5 and (high - low) / 2 / c["speedup"] <= 0.05
    assert f"precision reached after {stop['rounds']} rounds" in stop["message"]
    assert len(measured(out)) == stop["rounds"] * len(FACTORS) * 2  # whole rounds only
    lines = read_run(out)
    assert lines[0]["stop"] == {"until_ci_pct": 5.0, "max_runs": 12}
    assert lines[-1]["stop"]["reason"] == "precision"
    assert lines[-1]["stop"]["rounds"] == stop["rounds"]


def test_until_ci_stops_at_max_runs_and_says_so(fake_ollama: Make, tmp_path: Path) -> None:
    images = tmp_path / "images"
    gpu, cpu = servers(fake_ollama, make_images(images), prompt_eval_s=0.0, token_delay_s=0.0)
    out = tmp_path / "run.jsonl"
    result = run_cli(
        *("--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}", "--images", str(images)),
        *("--runs", "2", "--until-ci", "0.1", "--max-runs", "3", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    stop = summary["stop"]
    assert (stop["reason"], stop["rounds"]) == ("max-runs", 3)
    assert stop["half_width_pct"] > 0.1 and "--max-runs 3 reached" in stop["message"]
    assert "precision-not-reached" in {w["code"] for w in summary["warnings"]}
    assert len(measured(out)) == 3 * len(FACTORS) * 2
    result = run_cli("--runs", "5", "--until-ci", "5", "--max-runs", "4")
    assert result.exit_code == 2 and "--max-runs 4 is below --runs 5" in result.stderr


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ollama_bench", "vision", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_resume_after_kill_9_completes_the_run_without_duplicates(
    fake_ollama: Make, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    # ±10% jitter: the kill breaks the shared noise's pairing (the resumed requests draw anew),
    # and with ±30% the 12 samples a target gets leave an interval of about ±20% around 1.25
    factors = make_images(images)
    gpu, cpu = servers(fake_ollama, factors, prompt_eval_s=0.03, token_delay_s=0.0, jitter=0.1)
    out = tmp_path / "run.jsonl"
    targets = ["--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}"]
    proc = _start([*targets, "--images", str(images), "--runs", "4", "--out", str(out), "-q"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        not out.exists() or out.read_text().count('"phase":"measured"') < 8
    ):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = measured(out)
    assert 8 <= len(before) < 4 * 3 * 2, "the run must be killed part-way"
    assert read_run(out)[-1]["kind"] != "footer"
    with out.open("a") as file:  # what a kill in the middle of a write leaves behind
        file.write('{"kind":"sample","seq":')

    result = CliRunner().invoke(app, ["vision", "--resume", str(out), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    samples = measured(out)
    assert len(samples) == 4 * 3 * 2  # the sample count of an uninterrupted run
    steps = Counter((s["repeat"], s["image"], s["target"]) for s in samples)
    assert max(steps.values()) == 1 and len(steps) == 24
    assert samples[: len(before)] == before  # what was recorded stays as it was
    assert {s["segment"] for s in samples[len(before) :]} == {1}
    (segment,) = [line for line in lines if line["kind"] == "segment"]
    assert segment["index"] == 1 and segment["samples_before"] == len(before) + 2
    warmups = [r for r in lines if r["kind"] == "sample" and r["phase"] == "warmup"]
    assert [w["segment"] for w in warmups] == [0, 0, 1, 1]  # each segment warms up again
    seqs = [r["seq"] for r in lines if r["kind"] == "sample"]
    assert seqs == list(range(len(seqs)))
    assert lines[-1]["kind"] == "footer" and lines[-1]["samples"] == len(seqs)
    summary = json.loads(result.stdout)
    assert summary["segments"] == 2 and summary["interrupted"] is False
    assert summary["stop"]["reason"] == "runs" and summary["stop"]["rounds"] == 4
    assert [t["samples"] for t in summary["targets"]] == [12, 12]
    assert summary["comparisons"][0]["verdict"] == "faster"

    size = out.stat().st_size
    done = CliRunner().invoke(app, ["vision", "--resume", str(out), "--json"])
    assert done.exit_code == 0 and "nothing to resume" in done.stderr
    assert out.stat().st_size == size


def _unfinished_run(make: Make, tmp_path: Path) -> tuple[Path, Path, FakeOllama, FakeOllama]:
    images = tmp_path / "images"
    gpu, cpu = servers(make, make_images(images), prompt_eval_s=0.0, token_delay_s=0.0)
    out = tmp_path / "run.jsonl"
    result = run_cli(
        *("--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}"),
        *("--images", str(images), "--runs", "2", "--out", str(out), "--json"),
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-4]) + "\n")  # as if killed: the last 3 samples, no footer
    return out, images, gpu, cpu


def test_resume_rejects_flags_that_contradict_the_header(fake_ollama: Make, tmp_path: Path) -> None:
    out, images, gpu, cpu = _unfinished_run(fake_ollama, tmp_path)
    for args, needle in (
        (["--runs", "5"], "--runs 5 differs from 2 recorded in"),
        (["--until-ci", "5"], "--until-ci 5 differs from (none)"),
        (["--images", str(tmp_path)], f"--images {tmp_path} differs from {images}"),
        (["--out", str(tmp_path / "x.jsonl")], "--out cannot be given with --resume"),
    ):
        result = CliRunner().invoke(app, ["vision", "--resume", str(out), *args])
        assert result.exit_code == 2, result.output
        (line,) = [x for x in result.stderr.splitlines() if x.strip()]
        assert line.startswith("error:") and needle in line, line
    targets = ["--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}"]
    swapped = CliRunner().invoke(app, ["vision", "--resume", str(out), *targets[2:], *targets[:2]])
    assert swapped.exit_code == 2 and "--target cpu=" in swapped.stderr
    agreeing = CliRunner().invoke(
        app, ["vision", "--resume", str(out), *targets, "--runs", "2", "--json"]
    )
    assert agreeing.exit_code == 0, agreeing.output
    assert len(measured(out)) == 2 * 3 * 2


def test_resume_needs_the_same_images_and_model(fake_ollama: Make, tmp_path: Path) -> None:
    out, images, _, cpu = _unfinished_run(fake_ollama, tmp_path)
    recorded = out.read_text()
    cpu.config.models = [FakeModel(digest="d" * 64)]
    result = CliRunner().invoke(app, ["vision", "--resume", str(out)])
    assert result.exit_code == 2
    assert f"target cpu ({cpu.url}) now serves model digest dddddddddddd" in result.stderr
    cpu.config.models = [FakeModel()]
    Image.new("RGB", (64, 48), (1, 2, 3)).save(images / "b.png")
    result = CliRunner().invoke(app, ["vision", "--resume", str(out)])
    assert result.exit_code == 2 and "image b.png has changed since" in result.stderr
    assert out.read_text() == recorded  # the refused resumptions appended nothing
