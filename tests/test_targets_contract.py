"""targets/ollama.py against the protocol-faithful test server: probe, timing, every fault kind."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fake_http import free_port
from fake_ollama import FakeModel, FakeOllama

from ollama_bench.models import RequestSettings, TargetInfo
from ollama_bench.targets.base import Exchange
from ollama_bench.targets.ollama import OllamaTarget
from ollama_bench.targets.spec import parse_target

Make = Callable[..., FakeOllama]
IMAGE = b"\x89PNG\r\n\x1a\n fake image bytes"
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def settings(**kwargs: object) -> RequestSettings:
    return RequestSettings.model_validate({"model": "llama3.2-vision", **kwargs})


def probe(url: str, **kwargs: object) -> TargetInfo:
    async def go() -> TargetInfo:
        async with OllamaTarget(parse_target(f"t={url}"), settings(**kwargs)) as target:
            return await target.probe()

    return asyncio.run(go())


def chat(
    url: str, spec_options: str = "", schema: dict[str, object] | None = SCHEMA, **kwargs: object
) -> Exchange:
    async def go() -> Exchange:
        async with OllamaTarget(
            parse_target(f"t={url}{spec_options}"), settings(**kwargs)
        ) as target:
            return await target.chat("Describe the image as JSON.", IMAGE, schema)

    return asyncio.run(go())


def test_probe_reports_version_digest_and_capabilities(fake_ollama: Make) -> None:
    server = fake_ollama()
    info = probe(server.url)
    assert info.usable and info.reachable
    assert info.version == "0.24.0"
    assert info.model_digest == server.config.models[0].digest
    assert "vision" in info.capabilities
    assert info.warnings == []


def test_probe_records_placement_once_the_model_is_resident(fake_ollama: Make) -> None:
    server = fake_ollama(vram_fraction=0.5)
    before = probe(server.url).placement
    assert before is not None and before.loaded is False
    chat(server.url)
    after = probe(server.url).placement
    assert after is not None and after.loaded
    assert after.size_bytes == server.config.models[0].size
    assert after.size_vram_bytes is not None and 0 < after.size_vram_bytes < after.size_bytes


def test_probe_missing_model_names_model_url_and_fix(fake_ollama: Make) -> None:
    server = fake_ollama(models=[FakeModel(name="llava:latest")])
    info = probe(server.url)
    assert info.reachable and not info.model_present and not info.usable and info.model_missing
    assert info.error == f"model llama3.2-vision is not on {server.url}"
    assert any("ollama pull llama3.2-vision" in w for w in info.warnings)


def test_probe_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    info = probe(url)
    assert not info.reachable and info.error is not None
    assert info.error.startswith(f"cannot connect to {url}")


def test_probe_warns_on_a_server_too_new_for_mllama(fake_ollama: Make) -> None:
    info = probe(fake_ollama(version="0.30.4").url)
    assert info.usable  # a warning, not a refusal: the requests will show the failure
    assert any("0.30.4 cannot run llama3.2-vision" in w for w in info.warnings)


def test_probe_warns_when_model_lacks_vision(fake_ollama: Make) -> None:
    server = fake_ollama(models=[FakeModel(name="llama3.2-vision", capabilities=["completion"])])
    assert any("vision capability" in w for w in probe(server.url).warnings)


def test_request_carries_the_run_settings(fake_ollama: Make) -> None:
    server = fake_ollama()
    exchange = chat(server.url, ",num_gpu=0", num_ctx=2048, seed=7, keep_alive="10m")
    assert exchange.error is None
    method, path, body = server.requests[-1]
    assert (method, path) == ("POST", "/api/chat")
    assert body is not None
    assert body["stream"] is True and body["format"] == SCHEMA and body["keep_alive"] == "10m"
    assert body["options"] == {
        "temperature": 0.0,
        "seed": 7,
        "num_ctx": 2048,
        "num_predict": 1024,
        "num_gpu": 0,
    }
    (message,) = body["messages"]
    assert base64.b64decode(message["images"][0]) == IMAGE and len(message["images"]) == 1


def test_no_format_sends_none(fake_ollama: Make) -> None:
    server = fake_ollama()
    chat(server.url, schema=None)
    body = server.requests[-1][2]
    assert body is not None and "format" not in body


def test_timings_match_injected_delays(fake_ollama: Make) -> None:
    reply = json.dumps({"title": "CAM 01", "traffic_level": 40})
    server = fake_ollama(prompt_eval_s=0.15, token_delay_s=0.02, load_s=0.3, reply=reply)
    cold = chat(server.url)
    warm = chat(server.url)
    assert cold.reply == warm.reply == reply
    assert cold.timing.cold and not warm.timing.cold
    assert cold.timing.server and cold.timing.server.load_duration_ns == pytest.approx(
        0.3e9, rel=0.05
    )
    s = warm.timing.server
    assert s is not None and s.eval_count and s.done_reason == "stop"
    tokens = s.eval_count
    expected_latency_s = 0.15 + tokens * 0.02
    assert warm.timing.latency_ns / 1e9 == pytest.approx(expected_latency_s, rel=0.05)
    assert warm.timing.ttft_ns is not None
    assert warm.timing.ttft_ns / 1e9 == pytest.approx(0.15 + 0.02, rel=0.1)
    assert warm.timing.decode_tokens_per_s == pytest.approx(1 / 0.02, rel=0.05)
    # the client's clock brackets the server's: the gap is small and not negative
    assert warm.timing.gap_ns is not None and 0 <= warm.timing.gap_ns < 0.05e9


def test_building_the_request_is_not_in_its_latency(
    fake_ollama: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock starts as the request goes out: building it (the image's base64, the JSON
    dump) is in no latency. Here the build is made to take half a second."""
    build = httpx.AsyncClient.build_request

    def slow_build(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Request:
        request = build(self, *args, **kwargs)
        time.sleep(0.5)
        return request

    server = fake_ollama()
    monkeypatch.setattr(httpx.AsyncClient, "build_request", slow_build)
    exchange = chat(server.url)
    assert exchange.error is None and exchange.timing.latency_ns < 0.4e9


@pytest.mark.parametrize(
    ("fault", "kind", "partial"),
    [
        ("404", "http_404", False),
        ("500", "http_500", False),
        ("503", "http_503", False),
        ("midstream_error", "stream_error", True),
        ("truncated", "truncated", True),
        ("no_done", "truncated", True),
        ("reset", "reset", None),
        ("hang", "timeout", False),
    ],
)
def test_each_fault_is_a_typed_error(
    fake_ollama: Make, fault: str, kind: str, partial: bool | None
) -> None:
    server = fake_ollama(reply='{"a": "' + "x" * 60 + '"}')
    server.inject(fault)
    exchange = chat(server.url, timeout_s=1.0)
    assert exchange.error is not None
    assert exchange.error.kind == kind
    assert exchange.error.message
    assert exchange.timing.latency_ns > 0 and exchange.timing.server is None
    if partial is True:
        assert exchange.reply and '{"a": "xxxx'.startswith(exchange.reply[:5])
    elif partial is False:
        assert exchange.reply == ""
    if fault == "hang":
        assert exchange.timing.latency_ns / 1e9 == pytest.approx(1.0, abs=0.3)
    assert chat(server.url).error is None  # the next request is fine again


def test_too_new_server_fails_with_its_words(fake_ollama: Make) -> None:
    exchange = chat(fake_ollama(version="0.31.0").url)
    assert exchange.error is not None and exchange.error.kind == "http_500"
    assert "unknown model architecture: 'mllama'" in exchange.error.message


def test_connection_refused_mid_run() -> None:
    exchange = chat(f"http://127.0.0.1:{free_port()}")
    assert exchange.error is not None and exchange.error.kind == "connect"
