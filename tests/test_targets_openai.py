"""targets/openai.py against the OpenAI stand-in: probe, request body, timing, every fault kind."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI
from PIL import Image

from ollama_bench.errors import UsageError
from ollama_bench.itl import summarise_itl
from ollama_bench.models import RequestSettings, TargetInfo
from ollama_bench.targets import open_target
from ollama_bench.targets.base import Exchange
from ollama_bench.targets.openai import OpenAITarget
from ollama_bench.targets.spec import parse_target

Make = Callable[..., FakeOpenAI]
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def settings(**kwargs: object) -> RequestSettings:
    return RequestSettings.model_validate({"model": "smollm2", **kwargs})


def target(url: str, options: str = "", **kwargs: object) -> OpenAITarget:
    made = open_target(parse_target(f"t={url},api=openai{options}"), settings(**kwargs))
    assert isinstance(made, OpenAITarget)
    return made


def probe(url: str, options: str = "", **kwargs: object) -> TargetInfo:
    async def go() -> TargetInfo:
        async with target(url, options, **kwargs) as t:
            return await t.probe()

    return asyncio.run(go())


def chat(
    url: str,
    options: str = "",
    image: bytes | None = b"",
    schema: dict[str, Any] | None = SCHEMA,
    probe_first: bool = True,
    **kwargs: object,
) -> Exchange:
    async def go() -> Exchange:
        async with target(url, options, **kwargs) as t:
            if probe_first:
                await t.probe()
            return await t.chat(
                "Describe the image as JSON.", png() if image == b"" else image, schema
            )

    return asyncio.run(go())


def test_probe_reads_models_and_llama_cpp_props(fake_openai: Make) -> None:
    server = fake_openai(n_ctx=8192)
    info = probe(server.url)
    assert info.usable and info.reachable and info.model_present
    assert (info.api, info.server, info.version) == ("openai", "llama.cpp", "b1-0c1e570")
    assert info.context_length == 8192 and "vision" in info.capabilities
    assert info.response_format == "json_schema" and info.warnings == []
    probe_body = server.chats()[-1]
    assert probe_body["max_tokens"] == 1 and probe_body["response_format"]["type"] == "json_schema"


def test_probe_without_props_is_a_server_of_unknown_kind(fake_openai: Make) -> None:
    info = probe(fake_openai(props=False).url)
    assert info.usable and info.server is None and info.version is None
    assert info.capabilities == [] and info.context_length is None


@pytest.mark.parametrize(("route", "server"), [("/version", "vLLM"), ("/api/version", "Ollama")])
def test_probe_names_vllm_and_ollama_by_their_version_routes(
    fake_openai: Make, route: str, server: str
) -> None:
    info = probe(fake_openai(props=False, routes={route: {"version": "0.6.3"}}).url)
    assert (info.server, info.version, info.capabilities) == (server, "0.6.3", [])


def test_probe_names_the_models_the_server_has(fake_openai: Make) -> None:
    server = fake_openai(models=["qwen2-vl"])
    info = probe(server.url)
    assert not info.usable and info.error == f"model smollm2 is not on {server.url}"
    assert info.model_missing
    assert info.warnings == ["this server serves qwen2-vl: pass --model with one of them"]


def test_an_ollama_style_tag_matches_its_v1_listing(fake_openai: Make) -> None:
    server = fake_openai(models=["llama3.2-vision:latest"])
    assert probe(server.url, model="llama3.2-vision").model_present


def test_probe_refuses_images_for_a_llama_server_without_vision(fake_openai: Make) -> None:
    server = fake_openai(vision=False)
    info = probe(server.url)
    assert not info.usable and "no vision" in (info.error or "")
    assert any("images=false" in w for w in info.warnings)
    assert probe(server.url, ",images=false").usable


def test_json_schema_refused_falls_back_to_json_object_once(fake_openai: Make) -> None:
    server = fake_openai(json_schema=False)
    info = probe(server.url)
    assert info.usable and info.response_format == "json_object"
    assert any("json_schema refused" in w and "HTTP 400" in w for w in info.warnings)
    exchange = chat(server.url)
    assert exchange.error is None
    forms = [body["response_format"]["type"] for body in server.chats()]
    assert forms == ["json_schema", "json_object", "json_schema", "json_object", "json_object"]
    assert server.chats()[-1]["response_format"]["schema"] == SCHEMA


def test_no_format_check_when_no_schema_is_sent(fake_openai: Make) -> None:
    server = fake_openai()
    info = probe(server.url, structured=False)
    assert info.usable and info.response_format is None and server.chats() == []


def test_unreachable_and_not_openai(fake_openai: Make) -> None:
    info = probe("http://127.0.0.1:9")
    assert not info.reachable and "cannot connect" in (info.error or "")


def test_request_body_follows_the_api(fake_openai: Make) -> None:
    server = fake_openai()
    chat(server.url, ",top_k=20", seed=7, num_predict=300)
    body = server.chats()[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 7, 300)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True},
    }
    assert body["cache_prompt"] is False  # llama.cpp: measure the prompt, not its cache
    assert body["top_k"] == 20  # options after the URL are extra request fields
    text, image = body["messages"][0]["content"]
    assert text == {"type": "text", "text": "Describe the image as JSON."}
    prefix, encoded = image["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64" and base64.b64decode(encoded) == png()
    assert "num_ctx" not in body and "keep_alive" not in body and "options" not in body


def test_text_only_sends_the_prompt_alone(fake_openai: Make) -> None:
    server = fake_openai()
    chat(server.url, ",images=false", image=None)
    assert server.chats()[-1]["messages"] == [
        {"role": "user", "content": "Describe the image as JSON."}
    ]


def test_cache_prompt_only_for_llama_cpp(fake_openai: Make) -> None:
    server = fake_openai(props=False)
    chat(server.url)
    assert "cache_prompt" not in server.chats()[-1]


def test_injected_delays_are_measured(fake_openai: Make) -> None:
    reply = " ".join(["tok"] * 11)
    server = fake_openai(prompt_eval_s=0.2, token_delay_s=0.03, reply=reply)
    exchange = chat(server.url)
    assert exchange.error is None and exchange.reply == reply
    timing, server_side = exchange.timing, exchange.timing.server
    assert server_side is not None
    assert server_side.eval_count == 11 and server_side.done_reason == "stop"
    assert server_side.prompt_eval_duration_ns == pytest.approx(0.2e9, rel=0.25)
    assert server_side.eval_duration_ns == pytest.approx(10 * 0.03e9, rel=0.25)
    assert timing.ttft_ns is not None and timing.ttft_ns == pytest.approx(0.2e9, rel=0.25)
    assert timing.latency_ns == pytest.approx(0.5e9, rel=0.25)
    assert timing.latency_ns > server_side.prompt_eval_duration_ns + server_side.eval_duration_ns
    # what no OpenAI-compatible server reports stays unknown, never zero
    assert server_side.total_duration_ns is None and server_side.load_duration_ns is None
    assert timing.gap_ns is None and timing.cold is False


def test_building_the_request_is_not_in_its_latency(
    fake_openai: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock starts as the request goes out, as for Ollama: the JSON dump (of a body with
    a base64 image), done while the request is built, is in no latency."""
    build = httpx.AsyncClient.build_request

    def slow_build(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Request:
        request = build(self, *args, **kwargs)
        time.sleep(0.5)
        return request

    server = fake_openai()
    monkeypatch.setattr(httpx.AsyncClient, "build_request", slow_build)
    exchange = chat(server.url, probe_first=False)
    assert exchange.error is None and exchange.timing.latency_ns < 0.4e9


def test_requests_reuse_one_connection(fake_openai: Make) -> None:
    """The stream is read to its end after [DONE], so no request pays a new connect."""
    server = fake_openai()

    async def go() -> list[Exchange]:
        async with target(server.url) as t:
            await t.probe()
            return [await t.chat("Describe it.", png(), SCHEMA) for _ in range(5)]

    assert all(exchange.error is None for exchange in asyncio.run(go()))
    assert server.connections_opened == 1


def test_a_connection_the_server_closed_after_its_stream_is_not_a_failure(
    fake_openai: Make,
) -> None:
    """llama-server closes its end a moment after each streamed reply: the next request, sent
    on that connection before the close arrived, goes again on a new one, timed from there."""
    server = fake_openai(close_after_stream_s=0.2)

    async def go() -> list[Exchange]:
        async with target(server.url) as t:
            await t.probe()
            return [await t.chat("Describe it.", png(), SCHEMA) for _ in range(3)]

    exchanges = asyncio.run(go())
    assert [exchange.error for exchange in exchanges] == [None, None, None]
    assert all(exchange.timing.latency_ns < 0.15e9 for exchange in exchanges)
    assert len(server.chats()) == 1 + 3  # the probe's, then each request once


def test_without_timings_counts_come_from_usage_and_durations_stay_null(fake_openai: Make) -> None:
    server = fake_openai(timings=False, reply="a b c")
    server_side = chat(server.url).timing.server
    assert server_side is not None and server_side.eval_count == 3
    assert server_side.prompt_eval_count is not None and server_side.prompt_eval_count > 64
    assert server_side.prompt_eval_duration_ns is None and server_side.eval_duration_ns is None


def test_without_usage_the_counts_are_unknown_too(fake_openai: Make) -> None:
    server = fake_openai(timings=False, usage=False, reply="a b c")
    exchange = chat(server.url)
    assert exchange.error is None and exchange.reply == "a b c"
    assert exchange.timing.server is not None and exchange.timing.server.eval_count is None


def test_finish_reason_length_is_recorded_as_cut_off(fake_openai: Make) -> None:
    server = fake_openai(reply="one two three four five")
    exchange = chat(server.url, num_predict=2)
    assert exchange.timing.server is not None
    assert exchange.timing.server.done_reason == "length"


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("404", "http_404", "does not exist"),
        ("500", "http_500", "decode"),
        ("503", "http_503", "Loading model"),
        ("midstream_error", "stream_error", "decode"),
        ("truncated", "truncated", ""),
        ("no_done", "truncated", "finish_reason"),
        ("reset", "reset", ""),
    ],
)
def test_every_fault_is_data_with_a_stable_kind(
    fake_openai: Make, fault: str, kind: str, words: str
) -> None:
    server = fake_openai(reply="one two three four five six seven")
    server.inject(fault)
    exchange = chat(server.url, probe_first=False)
    assert exchange.error is not None and exchange.error.kind == kind
    assert words in exchange.error.message
    if fault in ("midstream_error", "truncated", "reset"):
        assert exchange.reply  # what arrived before the fault is kept


def mock_chat(*events: str) -> Exchange:
    """A chat whose server streams these `data:` events (then [DONE]), through httpx's mock."""
    stream = "".join(f"data: {event}\n\n" for event in [*events, "[DONE]"]).encode()

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=stream)

    async def go() -> Exchange:
        async with target("http://mock:1") as t:
            await t._http.aclose()
            t._http = httpx.AsyncClient(
                base_url="http://mock:1", transport=httpx.MockTransport(reply)
            )
            return await t.chat("Describe it.", None, None)

    return asyncio.run(go())


def piece(**choice: Any) -> str:
    return json.dumps({"choices": [choice]})


STOP = piece(delta={}, finish_reason="stop")


@pytest.mark.parametrize(
    "events",
    [
        (piece(delta={"content": 5}), STOP),
        (piece(delta="text"), '{"choices": "abc"}', '{"choices": [1]}', STOP),
        (piece(delta={"content": "a"}, finish_reason=1),),
        (piece(delta={"content": "a"}), STOP, '{"choices": [], "usage": [1], "timings": "x"}'),
        (STOP, '{"choices": [], "usage": {"completion_tokens": 1e999}}'),
        (STOP, '{"choices": [], "timings": {"predicted_ms": 1e999, "prompt_ms": 1e400}}'),
        (STOP, '{"choices": [], "usage": {"prompt_tokens": 1' + "0" * 400 + "}}"),
    ],
)
def test_a_chunk_piece_of_the_wrong_type_is_left_out(events: tuple[str, ...]) -> None:
    exchange = mock_chat(*events)  # never raises
    assert exchange.reply in ("", "a")
    server = exchange.timing.server
    if server is None:  # no usable finish_reason: the stream counts as cut short
        assert exchange.error is not None and exchange.error.kind == "truncated"
    else:
        assert exchange.error is None and server.done_reason == "stop"
        assert server.eval_count is None and server.prompt_eval_count is None
        assert server.eval_duration_ns is None and server.prompt_eval_duration_ns is None
    assert exchange.timing.decode_tokens_per_s is None


def test_a_huge_chunk_that_is_not_an_object_gives_a_short_error() -> None:
    exchange = mock_chat(json.dumps("E" * 100_000))
    assert exchange.error is not None and exchange.error.kind == "protocol"
    assert "not an object" in exchange.error.message and len(exchange.error.message) < 300


def test_hang_times_out(fake_openai: Make) -> None:
    server = fake_openai()
    server.inject("hang")
    exchange = chat(server.url, probe_first=False, timeout_s=0.5)
    assert exchange.error is not None and exchange.error.kind == "timeout"
    assert exchange.timing.latency_ns == pytest.approx(0.5e9, rel=0.5)


def test_image_refused_by_a_server_without_vision_is_http_500(fake_openai: Make) -> None:
    server = fake_openai(vision=False)
    exchange = chat(server.url, probe_first=False)
    assert exchange.error is not None and exchange.error.kind == "http_500"
    assert "mmproj" in exchange.error.message


def test_a_failed_format_check_sends_json_schema_and_says_so(fake_openai: Make) -> None:
    server = fake_openai()
    server.inject("503")
    info = probe(server.url)
    assert info.usable and info.response_format is None
    assert any("could not check" in w and "HTTP 503 Loading model" in w for w in info.warnings)
    assert [b["response_format"]["type"] for b in server.chats()] == ["json_schema"]


def test_every_call_carries_the_credentials(
    fake_openai: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fake_openai()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    chat(server.url)
    assert server.authorizations and set(server.authorizations) == {"Bearer sk-test"}
    server.authorizations.clear()
    with_user = server.url.replace("http://", "http://alice:s3cret@")
    info = probe(with_user)
    assert info.url == with_user.replace("s3cret", "***") and info.usable
    assert set(server.authorizations) == {"Basic " + base64.b64encode(b"alice:s3cret").decode()}


def test_openai_options_are_checked_against_their_own_list() -> None:
    with pytest.raises(UsageError, match="unknown option 'num_gpu'"):
        parse_target("t=http://h:8080,api=openai,num_gpu=0")
    assert parse_target("t=http://h:8080,api=openai,min_p=0.1").options == {"min_p": 0.1}


def test_chunk_arrivals_give_the_itl(fake_openai: Make) -> None:
    reply = " ".join(["tok"] * 11)  # eleven content chunks
    exchange = chat(fake_openai(prompt_eval_s=0.05, token_delay_s=0.02, reply=reply).url)
    gaps = exchange.timing.chunk_gaps_us
    assert exchange.error is None and gaps is not None and len(gaps) == 11
    assert gaps[0] == (exchange.timing.ttft_ns or 0) // 1000  # the role-only chunk is no arrival
    itl = summarise_itl([exchange.timing])
    assert itl is not None and itl.p50_s == pytest.approx(0.02, abs=0.003)
