"""Against a real Ollama named by OBENCH_LIVE_URL (skipped without one).

These prove the test server faithful: the same assertions the contract tests make of the
stand-in must hold for the real thing. They need llama3.2-vision pulled on that server.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.models import RequestSettings
from ollama_bench.targets.ollama import OllamaTarget
from ollama_bench.targets.spec import parse_target
from ollama_bench.vision.scenarios import load_scenario

LIVE_URL = os.environ.get("OBENCH_LIVE_URL", "")
MODEL = os.environ.get("OBENCH_LIVE_MODEL", "llama3.2-vision")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not LIVE_URL, reason="set OBENCH_LIVE_URL to a real Ollama to run live tests"
    ),
    pytest.mark.timeout(1800),
]


def test_probe_finds_version_and_model() -> None:
    async def probe() -> None:
        settings = RequestSettings(model=MODEL)
        async with OllamaTarget(parse_target(f"live={LIVE_URL}"), settings) as target:
            info = await target.probe()
        assert info.usable, info.error
        assert info.version and info.model_digest and len(info.model_digest) == 64
        assert "vision" in info.capabilities

    asyncio.run(probe())


def test_one_real_request_is_timed_by_both_clocks() -> None:
    async def ask() -> None:
        scenario = load_scenario("cctv")
        settings = RequestSettings(model=MODEL, timeout_s=1200)
        async with OllamaTarget(parse_target(f"live={LIVE_URL}"), settings) as target:
            exchange = await target.chat(scenario.prompt, scenario.images[0].data, scenario.schema)
        assert exchange.error is None, exchange.error
        server = exchange.timing.server
        assert server is not None and server.eval_count and server.eval_duration_ns
        assert exchange.timing.ttft_ns is not None
        assert exchange.timing.ttft_ns < exchange.timing.latency_ns
        assert server.total_duration_ns is not None
        assert server.total_duration_ns <= exchange.timing.latency_ns
        assert exchange.timing.suspicious == []
        json.loads(exchange.reply)  # format was sent: the reply must be JSON

    asyncio.run(ask())


def test_cli_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "live.jsonl"
    images = len(load_scenario("cctv").images)
    result = CliRunner().invoke(
        app,
        [
            *("vision", "--target", f"live={LIVE_URL}", "--model", MODEL),
            *("--runs", "1", "--warmup", "1", "--out", str(out), "--json", "--quiet"),
            *("--header", "X-Obench-Live-Test: 1"),  # a real server ignores an extra header
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (target,) = summary["targets"]
    assert target["samples"] == images and target["failed"] == 0
    assert target["accuracy_images"] == images
    samples = [json.loads(line) for line in out.read_text().splitlines()[1:-1]]
    assert len([s for s in samples if s["kind"] == "sample"]) == images + 1
    # the plausibility rules must never flag a real server's timings
    assert target["suspicious"] == 0, [s["timing"]["suspicious"] for s in samples]
    assert "implausible-timings" not in {w["code"] for w in summary["warnings"]}


def test_downsized_copies_decode_on_a_real_server(tmp_path: Path) -> None:
    out = tmp_path / "small.jsonl"
    result = CliRunner().invoke(
        app,
        [
            *("vision", "--scenario", "products", "--target", f"live={LIVE_URL}"),
            *("--model", MODEL, "--runs", "1", "--warmup", "0", "--max-image-side", "256"),
            *("--out", str(out), "--json", "--quiet"),
        ],
    )
    assert result.exit_code == 0, result.output
    header = json.loads(out.read_text().splitlines()[0])
    assert all(i["sent_width_px"] == 256 for i in header["images"])  # 512×512 PNGs
    (target,) = json.loads(result.stdout)["targets"]
    assert target["failed"] == 0 and target["valid_rate"] == 1.0
