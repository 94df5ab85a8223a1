"""The OpenAI stand-in against the official `openai` client, a peer nobody here wrote.

If the SDK parses what tests/fake_openai.py sends (chunks, the usage chunk with no choices, the
[DONE] terminator, error bodies), the stand-in speaks the protocol; tests/test_real_llama.py
compares it with a real llama-server field by field.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from fake_openai import IMAGE_TOKENS, NO_MMPROJ, FakeOpenAI
from PIL import Image

Make = Callable[..., FakeOpenAI]
MESSAGES: Any = [{"role": "user", "content": "Describe the image as JSON."}]


def client(server: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0, timeout=10)


def test_official_client_reads_the_stream_usage_and_timings(fake_openai: Make) -> None:
    server = fake_openai(reply='{"title": "CAM 01"}')
    stream = client(server).chat.completions.create(
        model="smollm2",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=100,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content is None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == '{"title": "CAM 01"}'
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == len(chunks) - 3  # role chunk, finish, usage
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    timings = (last.model_extra or {})["timings"]
    assert timings["predicted_n"] == last.usage.completion_tokens
    assert timings["prompt_n"] == last.usage.prompt_tokens


def test_official_client_non_streamed_and_models(fake_openai: Make) -> None:
    server = fake_openai(models=["smollm2", "other"])
    sdk = client(server)
    assert [m.id for m in sdk.models.list()] == ["smollm2", "other"]
    reply = sdk.chat.completions.create(model="smollm2", messages=MESSAGES, max_tokens=2)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 2


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [("404", 404, "does not exist"), ("500", 500, "decode"), ("503", 503, "Loading model")],
)
def test_official_client_raises_the_status_and_message(
    fake_openai: Make, fault: str, status: int, words: str
) -> None:
    server = fake_openai()
    server.inject(fault)
    with pytest.raises(openai.APIStatusError) as caught:
        client(server).chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)
    assert caught.value.status_code == status
    assert words in str(caught.value.message)


def test_image_without_vision_is_refused_like_llama_server(fake_openai: Make) -> None:
    server = fake_openai(vision=False)
    image: Any = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]
    with pytest.raises(openai.InternalServerError) as caught:
        client(server).chat.completions.create(model="smollm2", messages=messages)
    assert NO_MMPROJ in str(caught.value.message)


def test_midstream_error_event_reaches_the_official_client(fake_openai: Make) -> None:
    server = fake_openai(reply="one two three four five six")
    server.inject("midstream_error")
    stream = client(server).chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="decode"):
        list(stream)


def test_json_schema_refusal_and_context_overflow_bodies(fake_openai: Make) -> None:
    server = fake_openai(json_schema=False, n_ctx=64)
    form = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}
    refused = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": MESSAGES, "response_format": form},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"
    long = [{"role": "user", "content": "word " * 100}]
    overflow = httpx.post(f"{server.url}/v1/chat/completions", json={"messages": long})
    assert overflow.status_code == 400
    assert overflow.json()["error"]["type"] == "exceed_context_size_error"


def test_delays_are_measured_into_the_timings(fake_openai: Make) -> None:
    server = fake_openai(prompt_eval_s=0.1, token_delay_s=0.02, reply="a b c d e f g h i j k")
    body = {"messages": MESSAGES, "stream": False}
    timings = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=10).json()
    timings = timings["timings"]
    assert timings["prompt_ms"] == pytest.approx(100, abs=30)
    # the first token comes with the prompt: predicted_ms spans the other n − 1 tokens
    assert timings["predicted_ms"] == pytest.approx(20 * (timings["predicted_n"] - 1), abs=40)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (["a string, not a part"], "unsupported content[].type"),
        ([{"type": "input_text", "text": "hi"}], "unsupported content[].type"),
        (5, "Expected 'content' to be a string or an array"),
    ],
)
def test_malformed_content_is_refused_with_400_like_llama_server(
    fake_openai: Make, content: Any, message: str
) -> None:
    # what llama-server b1-0c1e570 answers (tools/server/server-common.cpp), not a dropped line
    server = fake_openai()
    body = {"messages": [{"role": "user", "content": content}]}
    refused = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {"code": 400, "message": message, "type": "invalid_request_error"}
    }


@pytest.mark.parametrize(
    ("fault", "error"), [("truncated", httpx.RemoteProtocolError), ("reset", httpx.ReadError)]
)
def test_a_reply_not_streamed_is_cut_in_half(
    fake_openai: Make, fault: str, error: type[Exception]
) -> None:
    server = fake_openai(reply="one two three four five six")
    server.inject(fault)
    url, body = f"{server.url}/v1/chat/completions", {"messages": MESSAGES, "stream": False}
    with httpx.Client(timeout=10) as http, http.stream("POST", url, json=body) as reply:
        assert reply.status_code == 200 and int(reply.headers["Content-Length"]) > 0
        received = bytearray()
        with pytest.raises(error):
            for data in reply.iter_raw():
                received += data
    assert 0 < len(received) < int(reply.headers["Content-Length"])
    assert httpx.post(url, json=body, timeout=10).json()["choices"][0]["finish_reason"] == "stop"


def test_no_done_not_streamed_has_no_finish_reason_or_usage(fake_openai: Make) -> None:
    text = "one two three four five six"
    server = fake_openai(reply=text)
    server.inject("no_done")
    body = {"messages": MESSAGES, "stream": False}
    reply = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=10).json()
    (choice,) = reply["choices"]
    content = choice["message"]["content"]
    assert choice["finish_reason"] is None
    assert content and text.startswith(content) and content != text  # cut short
    assert "usage" not in reply and "timings" not in reply


def test_openai_prompt_tokens_grow_with_the_image_pixels_when_asked(fake_openai: Make) -> None:
    def prompt_tokens(url: str, width: int, height: int) -> int:
        out = io.BytesIO()
        Image.new("RGB", (width, height)).save(out, format="PNG")
        data = f"data:image/png;base64,{base64.b64encode(out.getvalue()).decode()}"
        parts = [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": data}},
        ]
        body = {"messages": [{"role": "user", "content": parts}], "max_tokens": 1}
        reply = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10).json()
        return int(reply["usage"]["prompt_tokens"])

    fixed, patches = fake_openai(), fake_openai(image_patch_px=28)
    counts = [
        prompt_tokens(server.url, w, h)
        for server in (fixed, patches)
        for w, h in ((448, 252), (1120, 630))
    ]
    text = counts[0] - IMAGE_TOKENS
    assert counts == [text + IMAGE_TOKENS] * 2 + [text + 16 * 9, text + 40 * 23]
