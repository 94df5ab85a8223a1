"""obench pull (and vision --pull) against Ollama test servers: progress, skips, failures.

The test server streams `/api/pull` progress as Ollama v0.24.0 does (reference §2.5): a
`pulling manifest` line, per-layer lines with `total` and `completed` (omitted while 0), then
`verifying sha256 digest`, `writing manifest`, `success`; errors arrive as an `{"error"}` line.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_ollama import PULL_UNKNOWN, FakeModel, FakeOllama
from typer.testing import CliRunner, Result

from ollama_bench.cli import app
from ollama_bench.models import RequestSettings
from ollama_bench.ops.pulling import PullTally, failure_hint
from ollama_bench.targets.base import TargetFailure
from ollama_bench.targets.ollama import OllamaTarget, PullProgress
from ollama_bench.targets.spec import parse_target
from ollama_bench.vision.scenarios import load_scenario

Make = Callable[..., FakeOllama]
LAYERS = [3_000_000, 269, 7_711, 473]
DISK_FULL = (
    "write /root/.ollama/models/blobs/sha256-11f274007f093fefeec994a5dbbb33d0733a4feb87f7ab66"
    "dcd7c1069fef0068-partial: no space left on device"
)


def pull(*args: str) -> Result:
    return CliRunner().invoke(app, ["pull", "--quiet", "--json", *args])


def outcomes(result: Result) -> dict[str, dict[str, object]]:
    return {o["target"]: o for o in json.loads(result.stdout)}


def pulls(server: FakeOllama) -> list[dict[str, object]]:
    return [body or {} for method, path, body in server.requests if path == "/api/pull"]


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def collect(url: str, model: str = "llama3.2-vision") -> list[PullProgress]:
    async def go() -> list[PullProgress]:
        async with OllamaTarget(parse_target(f"t={url}"), RequestSettings(model=model)) as t:
            return [event async for event in t.pull()]

    return asyncio.run(go())


def test_streamed_progress_comes_through_the_official_client(fake_ollama: Make) -> None:
    server = fake_ollama(models=[], pull_layers=LAYERS)
    events = collect(server.url)
    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layer_lines = [e for e in events if e.digest]
    assert {e.status for e in layer_lines} == {f"pulling {e.digest[7:19]}" for e in layer_lines}
    assert [e.completed_bytes for e in layer_lines[:4]] == [None, 1_000_000, 2_000_000, 3_000_000]
    (body,) = pulls(server)
    assert body == {"model": "llama3.2-vision", "insecure": False, "stream": True}


def test_tally_sums_layers_and_rates_only_what_was_downloaded() -> None:
    tally = PullTally()
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    tally.add(PullProgress("pulling manifest"), now_s=0.0)
    tally.add(PullProgress("pulling aaaaaaaaaaaa", a, 1_000, None), now_s=0.0)
    tally.add(PullProgress("pulling aaaaaaaaaaaa", a, 1_000, 400), now_s=1.0)
    assert (tally.total_bytes, tally.completed_bytes) == (1_000, 400)
    assert tally.rate_bytes_per_s == 400.0 and tally.eta_s == 1.5
    tally.add(PullProgress("pulling aaaaaaaaaaaa", a, 1_000, 1_000), now_s=2.0)
    tally.add(PullProgress("pulling bbbbbbbbbbbb", b, 500, 500), now_s=2.0)  # already on disk
    assert (tally.total_bytes, tally.completed_bytes) == (1_500, 1_500)
    assert tally.mean_rate_bytes_per_s == 500.0  # 1000 downloaded bytes in 2 s; b not counted
    tally.add(PullProgress("verifying sha256 digest"), now_s=9.0)
    assert tally.mean_rate_bytes_per_s == 500.0 and tally.eta_s == 0.0
    assert tally.status == "verifying sha256 digest"


def test_pull_fetches_where_missing_and_skips_where_present(fake_ollama: Make) -> None:
    has, lacks = fake_ollama(), fake_ollama(models=[], pull_layers=LAYERS)
    result = pull("-t", f"gpu={has.url}", "-t", f"cpu={lacks.url}")
    assert result.exit_code == 0, result.output
    found = outcomes(result)
    assert found["gpu"]["state"] == "present" and pulls(has) == []
    assert found["cpu"]["state"] == "pulled" and found["cpu"]["size_bytes"] == sum(LAYERS)
    assert len(str(found["cpu"]["digest"])) == 64
    again = pull("-t", f"gpu={has.url}", "-t", f"cpu={lacks.url}")
    assert {o["state"] for o in outcomes(again).values()} == {"present"}  # idempotent
    assert len(pulls(lacks)) == 1


def test_force_pulls_again_but_once_per_server(fake_ollama: Make) -> None:
    server = fake_ollama()
    result = pull("--force", "-t", f"gpu={server.url}", "-t", f"cpu={server.url},num_gpu=0")
    assert result.exit_code == 0, result.output
    assert [o["state"] for o in outcomes(result).values()] == ["pulled", "present"]
    assert len(pulls(server)) == 1


def test_unknown_model_fails_its_target_and_the_others_go_on(fake_ollama: Make) -> None:
    registry = {"llama3.2-vision"}
    first = fake_ollama(models=[], pull_known=registry)
    second = fake_ollama(models=[], pull_known=registry)
    result = pull("--model", "llama3.2-vison", "-t", f"a={first.url}", "-t", f"b={second.url}")
    assert result.exit_code == 3
    found = outcomes(result)
    for name, server in (("a", first), ("b", second)):
        assert found[name]["state"] == "failed"
        assert found[name]["error"] == (
            f"pulling llama3.2-vison on {server.url} failed: {PULL_UNKNOWN}"
        )
        assert "spelled right" in str(found[name]["hint"])
    assert len(pulls(second)) == 1  # the first failure did not stop the second


def test_disk_full_midway_is_one_line_naming_the_target(fake_ollama: Make) -> None:
    full = fake_ollama(models=[], pull_layers=LAYERS, pull_error=DISK_FULL, pull_fail_after=2)
    fine = fake_ollama(models=[], pull_layers=LAYERS)
    result = CliRunner().invoke(
        app, ["pull", "--quiet", "-t", f"gpu={full.url}", "-t", f"cpu={fine.url}"]
    )
    assert result.exit_code == 3
    lines = [line for line in result.output.splitlines() if line.startswith(("✓", "✗"))]
    assert lines[0].startswith(f"✗ gpu: pulling llama3.2-vision on {full.url} failed: write")
    assert "no space left on device" in result.output and "free disk space" in result.output
    assert lines[-1].startswith(f"✓ cpu {fine.url} pulled llama3.2-vision")
    assert "Traceback" not in result.output


def test_connection_lost_midway_and_unreachable_server(fake_ollama: Make) -> None:
    cut = fake_ollama(models=[], pull_layers=LAYERS, pull_reset=True, pull_fail_after=3)
    down = closed_url()
    result = pull("-t", f"gpu={cut.url}", "-t", f"cpu={down}")
    assert result.exit_code == 3
    found = outcomes(result)
    assert str(found["gpu"]["error"]).startswith(
        f"connection to {cut.url} lost while pulling llama3.2-vision"
    )
    assert "run obench pull again" in str(found["gpu"]["hint"])
    assert str(found["cpu"]["error"]).startswith(f"cannot connect to {down}")


def test_pull_raises_target_failure_for_a_stream_without_success(fake_ollama: Make) -> None:
    server = fake_ollama(models=[], pull_known=set())
    try:
        collect(server.url)
    except TargetFailure as exc:
        assert str(exc).endswith(PULL_UNKNOWN)
    else:
        raise AssertionError("an unknown model must fail")


def test_failure_hints() -> None:
    assert "ollama.com/library" in failure_hint(PULL_UNKNOWN, "x")
    assert "disk space" in failure_hint(DISK_FULL, "x")
    assert failure_hint("something else", "x") == ""


def test_progress_bar_shows_bytes_and_status(fake_ollama: Make) -> None:
    server = fake_ollama(models=[], pull_layers=LAYERS)
    result = CliRunner().invoke(app, ["pull", "-t", f"gpu={server.url}"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    bar = next(line for line in result.output.splitlines() if line.startswith("gpu "))
    assert "2.9/2.9 MiB" in bar and bar.rstrip().endswith("success")


def test_vision_pull_fetches_the_model_then_runs(fake_ollama: Make, tmp_path: Path) -> None:
    server = fake_ollama(models=[], pull_layers=LAYERS)
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(
        app,
        [
            *("vision", "--pull", "--quiet", "--no-monitor", "-t", f"gpu={server.url}"),
            *("--runs", "1", "--warmup", "0", "--out", str(out), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(pulls(server)) == 1
    images = len(load_scenario("cctv").images)
    assert json.loads(result.stdout)["targets"][0]["samples"] == images
    assert out.read_text().count('"kind":"sample"') == images


def test_pull_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(app, ["pull", "--help"], env={"COLUMNS": "200"})
    assert "Exit codes: 0 every target has the model" in result.stdout
    assert "3 a target could not get it" in result.stdout


def test_a_client_hanging_up_after_an_error_line_leaves_no_trace(
    fake_ollama: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    """The official client closes with the stream's last chunk unread, so the kernel resets the
    connection; the test server must not print that into a CLI's captured output."""
    server = fake_ollama(models=[], pull_error=DISK_FULL, pull_fail_after=2)
    host, port = server.url.rsplit("//", 1)[1].split(":")
    body = json.dumps({"model": "llama3.2-vision", "stream": True}).encode()
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(b"POST /api/pull HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        peeked = b""
        while not peeked.endswith(b"0\r\n\r\n"):  # peek: all of it stays unread
            peeked = raw.recv(65536, socket.MSG_PEEK)
    # closed with unread data: a reset, which the handler meets waiting for a next request
    handlers = server._httpd.handlers if server._httpd else set()
    for _ in range(500):
        if not handlers:
            break
        time.sleep(0.01)
    assert b"no space left on device" in peeked
    assert not handlers and "Traceback" not in capsys.readouterr().err


def test_resume_with_pull_pulls_the_model_the_run_file_records(
    fake_ollama: Make, tmp_path: Path
) -> None:
    server = fake_ollama(models=[FakeModel(name="moondream:latest")], pull_layers=LAYERS)
    out = tmp_path / "run.jsonl"
    args = ["--quiet", "--no-monitor", "-t", f"gpu={server.url}", "--model", "moondream"]
    first = CliRunner().invoke(
        app, ["vision", *args, "--runs", "2", "--warmup", "0", "--out", str(out)]
    )
    assert first.exit_code == 0, first.output
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-2]) + "\n")  # as if killed: the last sample, no footer
    resumed = CliRunner().invoke(app, ["vision", "--resume", str(out), "--pull", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert pulls(server) == []  # moondream is there; llama3.2-vision (--model's default) is not
