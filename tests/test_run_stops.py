"""How a run ends when the world does not cooperate: a run where some target never answered
(exit 4, and --max-failure-rate), SIGTERM and SIGHUP, a target that dies or hangs mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import samples_of
from fake_http import free_port
from fake_ollama import FakeOllama
from test_cli_vision import answer_from_labels, make_images, read_run, run_cli
from typer.testing import CliRunner

from ollama_bench.cli import app

Make = Callable[..., FakeOllama]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- exit 4 when a target has no successful measured request ----------------------------------


def test_every_request_failing_exits_4(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    good = fake_ollama(reply=answer_from_labels(images))
    broken = fake_ollama(reply=answer_from_labels(images))
    broken.inject("500", count=100)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"gpu={good.url}", "--target", f"cpu={broken.url}"),
        *("--images", str(images), "--runs", "2", "--out", str(out), "--json"),
    )
    assert result.exit_code == 4, result.output
    (line,) = error_lines(result.stderr)
    assert "cpu" in line and "no successful measured request" in line and "http_500" in line
    assert line.endswith(f"each failed request is in {out} with its error")
    assert json.loads(result.stdout)["targets"][1]["failed"] == 4  # the summary is still shown
    assert read_run(out)[-1]["kind"] == "footer"


def test_a_target_left_out_at_the_probe_exits_4(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    good = fake_ollama(reply=answer_from_labels(images))
    dead = f"http://127.0.0.1:{free_port()}"
    result = run_cli(
        *("--target", f"gpu={good.url}", "--target", f"cpu={dead}", "--images", str(images)),
        *("--runs", "1", "--json", "--out", str(tmp_path / "r.jsonl")),
    )
    assert result.exit_code == 4, result.output
    (line,) = error_lines(result.stderr)
    assert "cpu" in line and "no successful measured request" in line


@pytest.mark.parametrize(("limit", "code"), [("20", 4), ("30", 0)])
def test_max_failure_rate(fake_ollama: Make, tmp_path: Path, limit: str, code: int) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(reply=answer_from_labels(images))
    server.inject("503")  # 1 of 4 measured requests: 25%
    result = run_cli(
        *("--target", f"t={server.url}", "--images", str(images), "--runs", "2"),
        *("--warmup", "0", "--max-failure-rate", limit, "--json"),
        *("--out", str(tmp_path / "r.jsonl")),
    )
    assert result.exit_code == code, result.output
    if code:
        (line,) = error_lines(result.stderr)
        assert "t failed 1 of 4 measured requests (25%)" in line and f"{limit}%" in line


def test_exit_codes_are_documented_in_help() -> None:
    for command in (["vision", "--help"], ["--help"]):
        result = CliRunner().invoke(app, command, env={"COLUMNS": "300"})
        text = " ".join(result.stdout.split())
        for needle in ("4 the run completed but", "74 the run file", "143", "129"):
            assert needle in text, (command, needle)


# -- SIGTERM and SIGHUP act like Ctrl-C --------------------------------------------------------


def start_long_run(
    url: str, images: Path, out: Path, preexec: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "ollama_bench", "vision", "--target", f"t={url}"),
            *("--images", str(images), "--runs", "50", "--warmup", "0"),
            *("--out", str(out), "--json", "--quiet"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        preexec_fn=preexec,
    )


def wait_for_samples(out: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count('"kind":"sample"') >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} samples in {out} after 30 s")


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `cmd &` in a script leaves it


@pytest.mark.parametrize(
    ("signum", "code", "preexec"),
    [
        (signal.SIGTERM, 143, None),
        (signal.SIGHUP, 129, None),
        (signal.SIGTERM, 143, ignore_sigint),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGTERM-with-SIGINT-ignored"],
)
def test_termination_signals_act_like_ctrl_c(
    fake_ollama: Make,
    tmp_path: Path,
    signum: signal.Signals,
    code: int,
    preexec: Callable[[], None] | None,
) -> None:
    images = make_images(tmp_path / "images")
    server = fake_ollama(prompt_eval_s=0.2, reply=answer_from_labels(images))
    out = tmp_path / "r.jsonl"
    proc = start_long_run(server.url, images, out, preexec)
    wait_for_samples(out, 2)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and f"interrupted by {signum.name}" in stderr
    lines = read_run(out)
    assert lines[-1]["kind"] == "footer" and lines[-1]["interrupted"] is True
    samples = [line for line in lines if line["kind"] == "sample"]
    summary = json.loads(stdout)
    assert summary["interrupted"] is True and summary["targets"][0]["samples"] == len(samples)


# -- a target that dies or hangs mid-run -----------------------------------------------------


def test_a_target_that_dies_mid_run_is_given_up_after_3(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    gpu = fake_ollama(reply=answer_from_labels(images))
    cpu = fake_ollama(reply=answer_from_labels(images), prompt_eval_s=0.05)
    out = tmp_path / "r.jsonl"

    def kill_cpu() -> None:
        wait_for_samples(out, 4)
        cpu.stop()

    killer = threading.Thread(target=kill_cpu)
    killer.start()
    result = run_cli(
        *("--target", f"gpu={gpu.url}", "--target", f"cpu={cpu.url}", "--images", str(images)),
        *("--runs", "10", "--warmup", "0", "--out", str(out), "--json"),
    )
    killer.join()
    assert result.exit_code == 0, result.output
    kinds = [s["error"]["kind"] if s["error"] else "ok" for s in samples_of(out, "cpu")]
    first_bad = next(i for i, kind in enumerate(kinds) if kind != "ok")
    after = [k for k in kinds[first_bad:] if k not in ("reset", "truncated")]
    assert after[:3] == ["connect"] * 3 and set(after[3:]) == {"skipped"}, kinds
    assert all(s["ok"] for s in samples_of(out, "gpu")) and len(samples_of(out, "gpu")) == 20
    assert result.stderr.count("no more requests go to it") == 1
    warnings = {w["code"]: w for w in json.loads(result.stdout)["warnings"] if w["target"] == "cpu"}
    skipped = kinds.count("skipped")
    assert f"{skipped} of its 20 measured requests were not sent" in warnings["gave-up"]["message"]


def test_a_hanging_target_costs_three_timeouts_not_all(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    stuck = fake_ollama(reply=answer_from_labels(images))
    stuck.inject("hang", count=100)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={stuck.url}", "--images", str(images), "--runs", "4"),
        *("--warmup", "1", "--timeout", "0.4", "--out", str(out), "--json"),
    )
    assert result.exit_code == 4, result.output  # no successful measured request
    kinds = [s["error"]["kind"] for s in samples_of(out)]
    assert kinds == ["timeout"] * 3 + ["skipped"] * 6
    (target,) = json.loads(result.stdout)["targets"]
    assert target["errors"] == {"timeout": 2, "skipped": 6} and target["samples"] == 8


def test_give_up_after_0_keeps_trying(fake_ollama: Make, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    stuck = fake_ollama(reply=answer_from_labels(images))
    stuck.inject("hang", count=100)
    out = tmp_path / "r.jsonl"
    result = run_cli(
        *("--target", f"t={stuck.url}", "--images", str(images), "--runs", "2"),
        *("--warmup", "0", "--timeout", "0.2", "--give-up-after", "0", "--out", str(out)),
    )
    assert result.exit_code == 4, result.output
    assert [s["error"]["kind"] for s in samples_of(out)] == ["timeout"] * 4
