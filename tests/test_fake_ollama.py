"""The fake Ollama server, checked against the official `ollama` client and raw HTTP.

The client is a peer nobody here wrote: whatever it accepts from tests/fake_ollama.py, and the
exceptions it raises for each injected fault, are what the project's own client code will see.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from fake_ollama import (
    BUNDLED_IMAGES,
    MLLAMA_UNKNOWN,
    ONE_IMAGE,
    PULL_UNKNOWN,
    RUNNER_STOPPED,
    SERVER_BUSY,
    FakeModel,
    FakeOllama,
    standalone_config,
)

Make = Callable[..., FakeOllama]
MODEL = "llama3.2-vision"
IMAGE = b"\x89PNG\r\n\x1a\n not really a png"
TEN_TOKENS = "a b c d e f g h i j"  # the fake splits this into exactly ten tokens
CREATED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z")
METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


def near(measured_s: float, expected_s: float) -> bool:
    """Within 15%, with room above for a busy machine: an injected sleep can only overrun."""
    return expected_s * 0.97 <= measured_s <= expected_s * 1.15 + 0.01


def ns_of(created_at: str) -> int:
    """created_at (RFC 3339, UTC, up to 9 fractional digits) as integer ns since the epoch."""
    stamp, _, fraction = created_at.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
    return int(whole) * 10**9 + int(fraction.ljust(9, "0"))


def ask(text: str = "Describe the image.", images: list[Any] | None = None) -> list[Any]:
    message: dict[str, Any] = {"role": "user", "content": text}
    return [message | {"images": images}] if images else [message]


def chat_stream(url: str, **kwargs: Any) -> list[ollama.ChatResponse]:
    with ollama.Client(host=url) as client:
        return list(client.chat(MODEL, kwargs.pop("messages", ask()), stream=True, **kwargs))


def chat(url: str, **kwargs: Any) -> ollama.ChatResponse:
    with ollama.Client(host=url) as client:
        return client.chat(kwargs.pop("model", MODEL), kwargs.pop("messages", ask()), **kwargs)


# -- listing endpoints -----------------------------------------------------------------------


def test_root_and_version(fake_ollama: Make) -> None:
    fake = fake_ollama(version="0.24.0")
    root = httpx.get(fake.url)
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert root.headers["content-type"] == "text/plain; charset=utf-8"
    head = httpx.head(fake.url)
    assert (head.status_code, head.content) == (200, b"")
    version = httpx.get(f"{fake.url}/api/version")
    assert version.json() == {"version": "0.24.0"}
    assert version.headers["content-type"] == "application/json; charset=utf-8"


def test_tags_and_show_through_the_client(fake_ollama: Make) -> None:
    fake = fake_ollama(models=[FakeModel(), FakeModel(name="moondream", family="moondream")])
    with ollama.Client(host=fake.url) as client:
        listed = client.list().models
        shown = client.show(MODEL)
        with pytest.raises(ollama.ResponseError) as missing:
            client.show("nope")
    assert [m.model for m in listed] == ["llama3.2-vision:latest", "moondream:latest"]
    first = listed[0]
    assert first.digest is not None and re.fullmatch(r"[0-9a-f]{64}", first.digest)
    assert first.size == 7_816_589_186 and isinstance(first.modified_at, datetime)
    assert first.details is not None and first.details.family == "mllama"
    assert first.details.families == ["mllama"] and first.details.format == "gguf"
    assert httpx.get(f"{fake.url}/api/tags").json()["models"][0]["name"] == first.model
    assert shown.capabilities == ["completion", "vision"]
    assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == "mllama"
    assert shown.details is not None and shown.details.quantization_level == "Q4_K_M"
    assert shown.template and shown.parameters and shown.modified_at is not None
    assert (missing.value.status_code, missing.value.error) == (404, "model 'nope' not found")


def test_ps_is_empty_until_a_request_then_shows_the_model(fake_ollama: Make) -> None:
    fake = fake_ollama()
    with ollama.Client(host=fake.url) as client:
        assert client.ps().models == []
        client.chat(MODEL, ask(), keep_alive="10m")
        loaded = client.ps().models
    assert len(loaded) == 1 and loaded[0].model == "llama3.2-vision:latest"
    assert loaded[0].size_vram == loaded[0].size == 7_816_589_186
    assert loaded[0].context_length == 4096
    assert loaded[0].expires_at is not None
    expected = datetime.now(UTC) + timedelta(minutes=10)
    assert abs((loaded[0].expires_at - expected).total_seconds()) < 5


@pytest.mark.parametrize(
    ("fraction", "options", "expected"),
    [(1.0, None, 1.0), (0.0, None, 0.0), (0.5, None, 0.5), (1.0, {"num_gpu": 0}, 0.0)],
)
def test_ps_placement(
    fake_ollama: Make, fraction: float, options: dict[str, Any] | None, expected: float
) -> None:
    fake = fake_ollama(vram_fraction=fraction)
    with ollama.Client(host=fake.url) as client:
        client.chat(MODEL, ask(), options=options)
        (model,) = client.ps().models
    assert model.size is not None and model.size_vram is not None
    assert model.size_vram == pytest.approx(model.size * expected, abs=1)


def test_keep_alive_negative_means_forever(fake_ollama: Make) -> None:
    fake = fake_ollama()
    with ollama.Client(host=fake.url) as client:
        client.chat(MODEL, ask(), keep_alive=-1)
        (model,) = client.ps().models
    assert model.expires_at is not None and model.expires_at.year > 2200


# -- streaming chat and generate -------------------------------------------------------------


def check_stream(chunks: list[Any], prompt_eval_s: float, token_delay_s: float) -> Any:
    *pieces, final = chunks
    assert "".join(c.message.content for c in pieces) == TEN_TOKENS
    assert len(pieces) == 10 and all(not c.done and c.total_duration is None for c in pieces)
    assert all(CREATED_AT.fullmatch(c.created_at) and c.model == MODEL for c in chunks)
    assert final.done and final.done_reason == "stop" and final.message.content == ""
    assert all(isinstance(final[name], int) and final[name] > 0 for name in METRICS)
    assert final.eval_count == 10 and final.prompt_eval_count > 1
    assert near(final.prompt_eval_duration / 1e9, prompt_eval_s)
    assert near(final.eval_duration / 1e9, 10 * token_delay_s)
    parts = final.load_duration + final.prompt_eval_duration + final.eval_duration
    assert final.total_duration >= parts
    return final


def test_streamed_chat_with_image_sync(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=TEN_TOKENS, prompt_eval_s=0.05, token_delay_s=0.02)
    arrivals: list[float] = []
    chunks = []
    with ollama.Client(host=fake.url) as client:
        sent = time.perf_counter()
        for chunk in client.chat(MODEL, ask(images=[IMAGE]), stream=True):
            arrivals.append(time.perf_counter() - sent)
            chunks.append(chunk)
    final = check_stream(chunks, 0.05, 0.02)
    assert near(arrivals[0], 0.05 + 0.02)  # client-side TTFT
    assert near(arrivals[9] - arrivals[0], 9 * 0.02)  # first → last token, client side
    assert arrivals[-1] >= final.total_duration / 1e9
    (_, _, body) = fake.requests[-1]
    assert (
        body is not None
        and body["messages"][0]["images"][0] == "iVBORw0KGgogbm90IHJlYWxseSBhIHBuZw=="
    )


def test_streamed_chat_with_image_async(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=TEN_TOKENS, prompt_eval_s=0.03, token_delay_s=0.02)

    async def run() -> list[Any]:
        async with ollama.AsyncClient(host=fake.url) as client:
            stream = await client.chat(MODEL, ask(images=[IMAGE]), stream=True)
            return [chunk async for chunk in stream]

    started = time.perf_counter()
    final = check_stream(asyncio.run(run()), 0.03, 0.02)
    assert time.perf_counter() - started >= 0.03 + 0.2
    assert final.load_duration < 5_000_000  # warm load step: microseconds, not a load


def test_stream_wire_format(fake_ollama: Make) -> None:
    fake = fake_ollama(reply="<b> & 'x'")
    body = {"model": MODEL, "messages": ask()}  # no "stream": real Ollama streams by default
    with httpx.stream("POST", f"{fake.url}/api/chat", json=body) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["transfer-encoding"] == "chunked"
        raw = response.read().decode()
    lines = raw.split("\n")
    assert lines[-1] == "" and all(lines[:-1])  # every line ends in \n, no blank lines
    objects = [json.loads(line) for line in lines[:-1]]
    assert "\\u003cb\\u003e" in raw and "\\u0026" in raw and "<" not in raw  # Go's escaping
    assert "".join(o["message"]["content"] for o in objects) == "<b> & 'x'"
    assert set(objects[0]) == {"model", "created_at", "message", "done"}
    assert ": " not in lines[-2] and ", " not in lines[-2]  # compact
    assert "eval_count" in objects[-1] and "thinking" not in objects[-1]["message"]
    fake.config.reply = ""  # nothing generated: eval_count and eval_duration are left out
    empty = httpx.post(f"{fake.url}/api/chat", json=body).json()
    assert empty["done"] and "eval_count" not in empty and "eval_duration" not in empty
    single = httpx.post(f"{fake.url}/api/chat", json=body | {"stream": False})
    assert single.headers["content-type"] == "application/json; charset=utf-8"
    assert single.json()["message"]["content"] == "" and single.json()["done"] is True


def test_generate_streamed_and_single(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=TEN_TOKENS)
    with ollama.Client(host=fake.url) as client:
        chunks = list(client.generate(MODEL, "Describe.", images=[IMAGE], stream=True))
        single = client.generate(MODEL, "Describe.", images=[IMAGE])
    assert "".join(c.response for c in chunks) == TEN_TOKENS
    assert chunks[-1].done and chunks[-1].context and chunks[-1].eval_count == 10
    assert single.response == TEN_TOKENS and single.done_reason == "stop"
    assert single.context and single.eval_count == 10


def test_num_predict_stops_with_length(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=TEN_TOKENS)
    reply = chat(fake.url, options={"num_predict": 3})
    assert (reply.message.content, reply.done_reason, reply.eval_count) == ("a b c", "length", 3)


def test_reply_callable_gets_the_request_and_format_is_recorded(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=lambda body: body["messages"][-1]["content"].upper())
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    reply = chat(fake.url, messages=ask("shout this"), format=schema)
    assert reply.message.content == "SHOUT THIS"
    method, path, body = fake.requests[-1]
    assert (method, path) == ("POST", "/api/chat")
    assert body is not None and body["format"] == schema and body["stream"] is False


@pytest.mark.parametrize(
    "name",
    ["LLAMA3.2-VISION", "llama3.2-vision:latest", "library/llama3.2-vision",
     "registry.ollama.ai/library/llama3.2-vision:LATEST"],
)  # fmt: skip
def test_model_names_resolve_and_are_echoed(fake_ollama: Make, name: str) -> None:
    fake = fake_ollama()
    assert chat(fake.url, model=name).model == name


def test_load_and_unload_calls(fake_ollama: Make) -> None:
    fake = fake_ollama(load_s=0.05)
    with ollama.Client(host=fake.url) as client:
        loaded = client.chat(MODEL, [])
        assert (loaded.done, loaded.done_reason, loaded.total_duration) == (True, "load", None)
        assert len(client.ps().models) == 1
        unloaded = client.generate(MODEL, "", keep_alive=0)
        assert (unloaded.done_reason, unloaded.response) == ("unload", "")
        assert client.ps().models == []
        assert client.generate(MODEL, "").done_reason == "load"


# -- load, reload and queueing ---------------------------------------------------------------


def test_cold_load_is_paid_once_then_after_option_change_or_unload(fake_ollama: Make) -> None:
    fake = fake_ollama(load_s=0.15)

    def load_s(**kwargs: Any) -> float:
        return chat(fake.url, **kwargs).load_duration / 1e9

    assert near(load_s(), 0.15)
    assert load_s() < 0.01
    assert near(load_s(options={"num_ctx": 8192}), 0.15)
    assert load_s(options={"num_ctx": 8192, "temperature": 0}) < 0.01  # not a runner option
    with ollama.Client(host=fake.url) as client:
        assert client.ps().models[0].context_length == 8192
    assert load_s(options={"num_ctx": 8192}, keep_alive=0) < 0.01
    assert load_s(options={"num_ctx": 8192}) > 0.1  # keep_alive 0 unloaded it
    fake.unload()
    assert load_s(options={"num_ctx": 8192}) > 0.1
    assert load_s(options={"num_ctx": 1024}) > 0.1
    with ollama.Client(host=fake.url) as client:
        assert client.ps().models[0].context_length == 2048  # vision models get at least 2048


def test_num_gpu_minus_one_does_not_reload_a_cpu_runner(fake_ollama: Make) -> None:
    fake = fake_ollama(load_s=0.1)
    with ollama.Client(host=fake.url) as client:
        cold = client.chat(MODEL, ask(), options={"num_gpu": 0})
        warm = client.chat(MODEL, ask(), options={"num_gpu": -1})  # -1 (auto) never reloads
        (model,) = client.ps().models
        reloaded = client.chat(MODEL, ask(), options={"num_gpu": 99})
        (after,) = client.ps().models
    assert cold.load_duration > 0.09e9 and warm.load_duration < 0.01e9
    assert model.size_vram == 0  # still the CPU runner
    assert reloaded.load_duration > 0.09e9 and after.size_vram == after.size


def test_model_expires_after_keep_alive(fake_ollama: Make) -> None:
    fake = fake_ollama(load_s=0.1)
    with ollama.Client(host=fake.url) as client:
        client.chat(MODEL, ask(), keep_alive=0.2)
        assert len(client.ps().models) == 1
        time.sleep(0.3)
        assert client.ps().models == []
        assert client.chat(MODEL, ask()).load_duration > 0.09e9


def test_concurrent_requests_queue_on_one_slot(fake_ollama: Make) -> None:
    fake = fake_ollama(reply="a b c d e", token_delay_s=0.04)
    streams: list[list[ollama.ChatResponse]] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        barrier.wait()
        streams.append(chat_stream(fake.url))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    first, second = sorted(streams, key=lambda chunks: ns_of(chunks[0].created_at))
    assert ns_of(first[-1].created_at) <= ns_of(second[0].created_at)  # one at a time
    for chunks in (first, second):
        assert near(chunks[-1].eval_duration / 1e9, 0.2)
    final = second[-1]
    queued = final.total_duration - final.load_duration - final.eval_duration
    assert queued - final.prompt_eval_duration > 0.05e9  # the wait shows only in the total


def test_slots_serve_num_parallel_at_once_and_the_rest_first_come_first_served(
    fake_ollama: Make,
) -> None:
    fake = fake_ollama(reply="a b c d e", token_delay_s=0.04, num_parallel=2)
    started: list[tuple[int, list[ollama.ChatResponse]]] = []

    def one(index: int) -> None:
        started.append((index, chat_stream(fake.url, messages=ask(f"request {index}"))))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for count, thread in enumerate(threads, 1):
        thread.start()  # the next one only once the server has this one: arrivals in order
        deadline = time.monotonic() + 5
        while len(fake.requests) < count and time.monotonic() < deadline:
            time.sleep(0.001)
    for thread in threads:
        thread.join(10)
    by_index = dict(started)
    first_chunk = {i: ns_of(chunks[0].created_at) for i, chunks in by_index.items()}
    last_chunk = {i: ns_of(chunks[-1].created_at) for i, chunks in by_index.items()}
    assert sorted(first_chunk, key=first_chunk.__getitem__) == list(range(6))  # FIFO
    for i in range(6):  # never more than two generating at once
        running = [j for j in range(6) if first_chunk[j] <= first_chunk[i] <= last_chunk[j]]
        assert len(running) <= 2, (i, running)
    for k in range(2, 6):  # request k got the slot request k − 2 gave back
        assert first_chunk[k] >= last_chunk[k - 2]
    waits = [by_index[i][-1].total_duration - by_index[i][-1].eval_duration for i in range(6)]
    assert max(waits[:2]) < 0.05e9 < min(waits[2:])  # the wait for a slot is in the total


def test_prompt_tokens_grow_with_the_image_pixels_when_asked(fake_ollama: Make) -> None:
    from io import BytesIO

    from PIL import Image

    def png(width: int, height: int) -> bytes:
        out = BytesIO()
        Image.new("RGB", (width, height)).save(out, format="PNG")
        return out.getvalue()

    mllama, patches = fake_ollama(), fake_ollama(image_patch_px=28)
    text_only = chat(mllama.url).prompt_eval_count
    assert (
        chat(mllama.url, messages=ask(images=[png(1120, 630)])).prompt_eval_count == text_only + 1
    )
    counts = [
        chat(patches.url, messages=ask(images=[png(w, h)])).prompt_eval_count
        for w, h in ((448, 252), (1120, 630))
    ]
    assert counts == [text_only + 16 * 9, text_only + 40 * 23]  # ceil(w/28) × ceil(h/28)
    assert chat(patches.url, messages=ask(images=[IMAGE])).prompt_eval_count == text_only + 1


def test_jitter_spreads_delays_within_bounds(fake_ollama: Make) -> None:
    fake = fake_ollama(prompt_eval_s=0.05, jitter=0.4, seed=7)
    seen = [(chat(fake.url).prompt_eval_duration or 0) / 1e9 for _ in range(4)]
    assert all(0.03 - 0.002 <= s <= 0.07 + 0.01 for s in seen)
    assert max(seen) - min(seen) > 0.004


def test_standalone_servers_take_one_to_three_times_as_long_by_image() -> None:
    cctv = sorted((BUNDLED_IMAGES / "cctv").glob("*.jpg"))
    factors = standalone_config(8.0).image_factors
    by_image = [factors[hashlib.sha256(path.read_bytes()).hexdigest()] for path in cctv]
    assert by_image[0] == 1.0 and by_image[-1] == 3.0 and by_image == sorted(by_image)


def test_image_factors_scale_the_delays_of_that_image(fake_ollama: Make) -> None:
    slow_image = b"\x89PNG\r\n\x1a\n a slower image"
    digest = hashlib.sha256(slow_image).hexdigest()
    fake = fake_ollama(
        reply=TEN_TOKENS, prompt_eval_s=0.02, token_delay_s=0.005, image_factors={digest: 3.0}
    )
    plain = chat(fake.url, messages=ask(images=[IMAGE]))
    slow = chat(fake.url, messages=ask(images=[slow_image]))
    assert near(plain.prompt_eval_duration / 1e9, 0.02)
    assert near(slow.prompt_eval_duration / 1e9, 0.06)
    assert near(plain.eval_duration / 1e9, 10 * 0.005)
    assert near(slow.eval_duration / 1e9, 10 * 0.015)
    assert near(chat(fake.url).prompt_eval_duration / 1e9, 0.02)  # no image: factor 1


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [("404", 404, f"model '{MODEL}' not found"), ("500", 500, RUNNER_STOPPED),
     ("503", 503, SERVER_BUSY)],
)  # fmt: skip
@pytest.mark.parametrize("stream", [True, False])
def test_status_faults(
    fake_ollama: Make, fault: str, status: int, message: str, stream: bool
) -> None:
    fake = fake_ollama()
    fake.inject(fault, count=2)
    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as error:
            chat_stream(fake.url) if stream else chat(fake.url)
        assert (error.value.status_code, error.value.error) == (status, message)
    assert chat(fake.url).done  # the faults are used up


def test_midstream_error_is_a_response_error_without_status(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=TEN_TOKENS)
    fake.inject("midstream_error")
    received = []
    with pytest.raises(ollama.ResponseError) as error, ollama.Client(host=fake.url) as client:
        for chunk in client.chat(MODEL, ask(), stream=True):
            received.append(chunk.message.content)
    assert (error.value.status_code, error.value.error) == (-1, RUNNER_STOPPED)
    assert received == ["a", " b", " c"]
    fake.inject("midstream_error")
    with pytest.raises(ollama.ResponseError) as single:
        chat(fake.url)
    assert single.value.status_code == 500  # non-streamed requests never get 200 + error


def test_truncated_stream_is_a_remote_protocol_error(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=TEN_TOKENS)
    fake.inject("truncated", count=2)
    received = []
    with pytest.raises(httpx.RemoteProtocolError), ollama.Client(host=fake.url) as client:
        for chunk in client.chat(MODEL, ask(), stream=True):
            received.append(chunk)
    assert len(received) == 3 and not any(c.done for c in received)
    with pytest.raises(httpx.RemoteProtocolError):
        chat(fake.url)
    assert chat(fake.url).message.content == TEN_TOKENS


def test_no_done_stream_just_ends(fake_ollama: Make) -> None:
    fake = fake_ollama(reply=TEN_TOKENS)
    fake.inject("no_done", count=2)
    chunks = chat_stream(fake.url)
    assert [c.message.content for c in chunks] == ["a", " b", " c"]
    assert not any(c.done for c in chunks)
    single = chat(fake.url)
    assert (single.done, single.message.content, single.eval_count) == (False, "a b c", None)


@pytest.mark.parametrize("stream", [True, False])
def test_reset_is_a_read_error(fake_ollama: Make, stream: bool) -> None:
    fake = fake_ollama(reply=TEN_TOKENS, token_delay_s=0.01)
    fake.inject("reset")
    with pytest.raises(httpx.ReadError, match="reset"):
        chat_stream(fake.url) if stream else chat(fake.url)
    assert chat(fake.url).done


@pytest.mark.parametrize("stream", [True, False])
def test_hang_times_out_and_stop_does_not_wait(fake_ollama: Make, stream: bool) -> None:
    fake = fake_ollama()
    fake.inject("hang")
    with pytest.raises(httpx.ReadTimeout), ollama.Client(host=fake.url, timeout=0.3) as client:
        list(client.chat(MODEL, ask(), stream=True)) if stream else client.chat(MODEL, ask())
    fake.inject("hang")
    outcome: list[BaseException] = []

    def stuck() -> None:
        try:
            chat_stream(fake.url) if stream else chat(fake.url)
        except (httpx.HTTPError, ollama.ResponseError) as error:
            outcome.append(error)

    thread = threading.Thread(target=stuck)
    thread.start()
    time.sleep(0.2)
    started = time.perf_counter()
    fake.stop()
    assert time.perf_counter() - started < 1.0
    thread.join(2)
    assert not thread.is_alive() and isinstance(outcome[0], httpx.RemoteProtocolError)


def test_inject_rejects_unknown_faults(fake_ollama: Make) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fake_ollama().inject("teapot")


# -- request validation ----------------------------------------------------------------------


def test_one_image_per_message_for_mllama(fake_ollama: Make) -> None:
    fake = fake_ollama()
    with ollama.Client(host=fake.url) as client:
        with pytest.raises(ollama.ResponseError) as in_chat:
            client.chat(MODEL, ask(images=[IMAGE, IMAGE]))
        with pytest.raises(ollama.ResponseError) as in_generate:
            client.generate(MODEL, "Describe.", images=[IMAGE, IMAGE])
        two_messages = client.chat(MODEL, ask(images=[IMAGE]) + ask(images=[IMAGE]))
    assert (in_chat.value.status_code, in_chat.value.error) == (500, ONE_IMAGE)
    assert (in_generate.value.status_code, in_generate.value.error) == (400, ONE_IMAGE)
    assert two_messages.done


@pytest.mark.parametrize(
    ("image", "offset"),
    [("data:image/png;base64,iVBORw0KGgo=", 4), ("aGVsbG8", 4), ("aGVs*G8=", 4),
     ("aGVsbG8=\n", None), ("aGVs\nbG8=", None), ("aGVsbA=x", 6), ("aGVsbA==x", 8)],
)  # fmt: skip
def test_base64_is_checked_like_go(fake_ollama: Make, image: str, offset: int | None) -> None:
    fake = fake_ollama()
    body = {"model": MODEL, "stream": False, "messages": ask(images=[image])}
    response = httpx.post(f"{fake.url}/api/chat", json=body)
    if offset is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json() == {"error": f"illegal base64 data at input byte {offset}"}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", {"model": ""}, 400, "model is required"),
        ("/api/generate", {"model": ""}, 404, "model '' not found"),
        ("/api/chat", {"model": "LLAMA3.2-vision:11b"}, 404,
         "model 'LLAMA3.2-vision:11b' not found"),
        ("/api/chat", {"model": "a/b/c/d"}, 400, "invalid model name"),
        ("/api/chat", {"model": MODEL, "think": True}, 400, f'"{MODEL}" does not support thinking'),
        ("/api/chat", {"model": MODEL, "keep_alive": "300"}, 400,
         'time: missing unit in duration "300"'),
        ("/api/show", {}, 400, "model is required"),
        ("/api/chat", None, 400, "missing request body"),
        ("/api/chat", b"[1]", 400,
         "json: cannot unmarshal array into Go value of type api.ChatRequest"),
        ("/api/chat", b'{"model": ', 400, "unexpected EOF"),
        ("/api/chat", b"{bad}", 400,
         "invalid character 'b' looking for beginning of object key string"),
        ("/api/pull", b"x", 400, "invalid character 'x' looking for beginning of value"),
    ],
)  # fmt: skip
def test_request_errors(
    fake_ollama: Make, path: str, body: dict[str, Any] | bytes | None, status: int, error: str
) -> None:
    fake = fake_ollama()
    content = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    response = httpx.post(f"{fake.url}{path}", content=content)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_unknown_path_and_wrong_method_are_plain_text(fake_ollama: Make) -> None:
    fake = fake_ollama()
    missing = httpx.get(f"{fake.url}/api/nope")
    wrong = httpx.get(f"{fake.url}/api/chat")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert (wrong.status_code, wrong.text) == (405, "405 method not allowed")
    assert missing.headers["content-type"].startswith("text/plain")
    assert [r[:2] for r in fake.requests] == [("GET", "/api/nope"), ("GET", "/api/chat")]


def test_too_new_server_cannot_run_mllama(fake_ollama: Make) -> None:
    other = FakeModel(name="moondream", family="moondream")
    fake = fake_ollama(version="0.30.4", models=[FakeModel(), other])
    assert httpx.get(f"{fake.url}/api/version").json() == {"version": "0.30.4"}
    for messages in (ask(), []):
        with pytest.raises(ollama.ResponseError) as error:
            chat(fake.url, messages=messages)
        assert (error.value.status_code, error.value.error) == (500, MLLAMA_UNKNOWN)
    assert chat(fake.url, model="moondream").done
    with ollama.Client(host=fake.url) as client:
        assert [m.model for m in client.ps().models] == ["moondream:latest"]


# -- pull ------------------------------------------------------------------------------------


def test_pull_streams_progress_and_adds_the_model(fake_ollama: Make) -> None:
    fake = fake_ollama(models=[], pull_layers=[1000, 10], pull_known={MODEL})
    with ollama.Client(host=fake.url) as client:
        progress = list(client.pull(MODEL, stream=True))
        listed = [m.model for m in client.list().models]
        again = list(client.pull(MODEL, stream=True))
    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest" and statuses[-3:] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    layers = progress[1:-3]
    assert all(re.fullmatch(r"pulling [0-9a-f]{12}", p.status or "") for p in layers)
    assert all(p.digest and p.status == f"pulling {p.digest[7:19]}" for p in layers)
    first_layer = [p for p in layers if p.total == 1000]
    assert len(first_layer) >= 3 and first_layer[0].completed is None
    assert first_layer[-1].completed == 1000
    assert listed == ["llama3.2-vision:latest"]
    assert [(p.completed, p.total) for p in again[1:3]] == [(1000, 1000), (10, 10)]
    assert again[-1].status == "success"


def test_pull_of_an_unknown_model_fails(fake_ollama: Make) -> None:
    fake = fake_ollama(pull_known=set())
    seen = []
    with ollama.Client(host=fake.url) as client:
        with pytest.raises(ollama.ResponseError) as streamed:
            for progress in client.pull("nope", stream=True):
                seen.append(progress.status)
        with pytest.raises(ollama.ResponseError) as single:
            client.pull("nope")
    assert seen == ["pulling manifest"]
    assert (streamed.value.status_code, streamed.value.error) == (-1, PULL_UNKNOWN)
    assert (single.value.status_code, single.value.error) == (500, PULL_UNKNOWN)


def test_standalone_command_runs_on_the_standard_library_alone() -> None:
    """`python3 -m tests.fake_ollama`, as the README gives it: from the checkout, with no
    site-packages (-S), so that a newcomer needs nothing installed to start it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    argv = [sys.executable, "-S", "-m", "tests.fake_ollama", "--port", str(port)]
    with subprocess.Popen(
        argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as server:
        try:
            assert server.stdout is not None
            first = server.stdout.readline().decode()
            said = first if server.poll() is None else first + server.stdout.read().decode()
            assert first.startswith(f"fake Ollama 0.24.0 on http://127.0.0.1:{port}"), said
            url = f"http://127.0.0.1:{port}/api/version"
            with urllib.request.urlopen(url, timeout=5) as answer:
                assert json.loads(answer.read()) == {"version": "0.24.0"}
        finally:
            server.terminate()
