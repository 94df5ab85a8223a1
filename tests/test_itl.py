"""Inter-token timing: the shared chunk clock, the compact record, ITL percentiles and stalls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_ollama import FakeOllama
from test_cli_vision import make_images
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.itl import STALL_FACTOR, summarise_itl
from ollama_bench.models import RequestSettings, Timing
from ollama_bench.targets.base import ChunkClock, Exchange
from ollama_bench.targets.ollama import OllamaTarget
from ollama_bench.targets.spec import parse_target

Make = Callable[..., FakeOllama]
REPLY = '{"title": "one two three four five six seven eight nine ten"}'


def chat(url: str) -> Exchange:
    async def go() -> Exchange:
        spec = parse_target(f"t={url}")
        async with OllamaTarget(spec, RequestSettings(model="llama3.2-vision")) as target:
            return await target.chat("Describe.", b"image", None)

    return asyncio.run(go())


def test_gaps_are_delta_encoded_microseconds_that_add_back_to_each_arrival() -> None:
    clock = ChunkClock()
    clock.started_ns = 1_000_000_000
    clock._arrivals_ns = [1_000_250_999, 1_000_251_000, 1_002_000_500]
    assert clock.ttft_ns == 250_999
    gaps = clock.chunk_gaps_us()
    assert gaps == [250, 1, 1749]
    assert [sum(gaps[: i + 1]) for i in range(3)] == [250, 251, 2000]  # floored µs offsets
    assert ChunkClock().chunk_gaps_us() == [] and ChunkClock().ttft_ns is None


def test_a_known_token_delay_is_measured_as_the_itl(fake_ollama: Make) -> None:
    server = fake_ollama(prompt_eval_s=0.05, token_delay_s=0.02, reply=REPLY)
    exchange = chat(server.url)
    gaps = exchange.timing.chunk_gaps_us
    assert exchange.error is None and gaps is not None
    server_tokens = exchange.timing.server.eval_count if exchange.timing.server else None
    assert len(gaps) == server_tokens  # one gap entry per content chunk, TTFT first
    assert gaps[0] / 1e6 == pytest.approx(exchange.timing.ttft_ns / 1e9, abs=1e-6)  # type: ignore[operator]
    itl = summarise_itl([exchange.timing])
    assert itl is not None and itl.gaps == len(gaps) - 1
    # The server sends token i at a fixed time i × 20 ms after the first, so each gap is 20 ms
    # give or take the scheduling of two threads; the median is robust to a late wake-up.
    assert itl.p50_s == pytest.approx(0.020, abs=0.003)
    assert itl.stalls == 0


def test_a_stall_is_counted_once_with_its_length(fake_ollama: Make) -> None:
    # Tokens 30 ms apart: a stall is a gap above 0.3 s, which no scheduling hiccup of a busy
    # machine makes; the injected one, 0.63 s, is twice that.
    server = fake_ollama(token_delay_s=0.03, stall_at_token=6, stall_s=0.6, reply=REPLY)
    first, second = chat(server.url), chat(server.url)
    itl = summarise_itl([first.timing, second.timing])
    assert itl is not None
    assert itl.stalls == 2 and itl.stalled_requests == 2  # one in each request
    assert itl.max_s == pytest.approx(0.63, abs=0.05)
    assert itl.stall_threshold_s == pytest.approx(STALL_FACTOR * itl.p50_s)


def test_itl_pools_gaps_across_requests_and_leaves_out_ttft() -> None:
    fast = Timing(latency_ns=1, chunk_gaps_us=[900_000, 10, 10, 10])  # TTFT 0.9 s: not an ITL
    slow = Timing(latency_ns=1, chunk_gaps_us=[5, 20, 20, 1000])
    itl = summarise_itl([fast, slow, Timing(latency_ns=1), Timing(latency_ns=1, chunk_gaps_us=[3])])
    assert itl is not None
    assert itl.gaps == 6 and itl.requests == 2
    assert itl.p50_s == pytest.approx(15e-6)  # median of 10 10 10 20 20 1000
    assert itl.max_s == pytest.approx(1e-3)
    assert (itl.stalls, itl.stalled_requests) == (1, 1)  # 1000 µs > 10 × 15 µs
    assert summarise_itl([Timing(latency_ns=1, chunk_gaps_us=[5])]) is None


def test_bursty_chunks_give_no_stall_figure_rather_than_a_false_one() -> None:
    burst = Timing(latency_ns=1, chunk_gaps_us=[100, 0, 0, 0, 50])
    itl = summarise_itl([burst])
    assert itl is not None and itl.p50_s == 0 and itl.stalls is None


def test_vision_reports_itl_and_stores_compact_gaps(fake_ollama: Make, tmp_path: Path) -> None:
    # tokens 30 ms apart, so that only a gap above 0.3 s is a stall: no scheduling hiccup
    server = fake_ollama(token_delay_s=0.03, reply=REPLY)
    images = make_images(tmp_path / "images")  # two, and a warm-up: three requests
    out = tmp_path / "run.jsonl"
    args = ["vision", "-q", "--runs", "1", "-t", f"gpu={server.url}", "--images", str(images)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    target = json.loads(result.stdout)["targets"][0]
    assert target["itl"]["p50_s"] == pytest.approx(0.03, abs=0.003)
    assert target["itl"]["stalls"] == 0
    sample = next(json.loads(line) for line in out.read_text().splitlines()[1:2])
    gaps = sample["timing"]["chunk_gaps_us"]
    assert all(isinstance(g, int) for g in gaps)
    assert len(gaps) == sample["timing"]["server"]["eval_count"] > 1
    table = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert "ITL p50 / p99 (client)" in table.stdout and "stalls (gap > 10× median)" in table.stdout
