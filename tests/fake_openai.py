"""A protocol-faithful stand-in for an OpenAI-compatible server (llama.cpp's llama-server).

A real HTTP/1.1 server on 127.0.0.1 (ephemeral port) in a background thread. What it sends was
checked against llama-server b1-0c1e570 (the llama-cpp-python 0.3.36 sources) serving
SmolLM2-135M: `POST /v1/chat/completions` streams `data: {json}` server-sent events, one per HTTP
chunk, as `chat.completion.chunk` objects (a first chunk with the role and `content: null`, one
per token, one with `finish_reason` and an empty delta, then with `stream_options.include_usage`
a chunk with `choices: []`, `usage` and llama.cpp's `timings`), then `data: [DONE]`. Errors are
`{"error": {"code", "message", "type"}}` with the status in `code`; one during a stream is an
`error` event that ends it. `/v1/models`, `/props`, `/health` answer as llama-server does.

The knobs make it any of the servers obench meets: `timings=False` is vLLM, LM Studio or
Ollama's `/v1` (no server durations); `props=False` a server without llama.cpp's `/props`;
`vision=False` llama-server without `--mmproj` (an image gets HTTP 500);
`json_schema=False` a server that knows only `response_format: {type: json_object}`;
`close_after_stream_s` llama-server closing the connection after each stream, `parallel=N`
llama-server's `-np N` (N requests generate at once, the rest wait for a slot first
come first served, a wait no reported timing shows); `image_patch_px` prompt tokens that grow
with an image's pixels.
Timings are *measured* around the injected delays, as llama.cpp measures its own: the first token
comes as the prompt is done, `predicted_ms` runs from there to the last token.

Faults (`inject`) are taken by the next chat completions that would generate text. A reply not
streamed gets them as tests/fake_ollama.py gives them: "truncated" and "reset" send its headers
and half its body, then a FIN or a TCP reset; "no_done" the reply without a finish_reason, usage
or timings.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

try:
    from fake_http import FakeHandler, FakeServer, Slots, Stopped, tokens_of
except ModuleNotFoundError:  # imported as tests.fake_openai, from the checkout
    from tests.fake_http import FakeHandler, FakeServer, Slots, Stopped, tokens_of

FAULTS = ("404", "500", "503", "midstream_error", "truncated", "no_done", "reset", "hang")
BUILD_INFO = "b1-0c1e570"
NO_MMPROJ = (
    "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
)
SERVER_ERROR = "failed to decode the batch (KV cache full?)"
LOADING = "Loading model"
FAULT_AFTER_CHUNKS = 3  # content chunks sent before a stream fault strikes ("reset": 2)
IMAGE_TOKENS = 64  # prompt tokens an image counts for
JSON_TYPE = "application/json; charset=utf-8"
_WORD_RE = re.compile(r"\w+|[^\w\s]")
_FORMS = ("text", "json_object", "json_schema")

Body = dict[str, Any]


@dataclass
class FakeOpenAIConfig:
    """Behaviour of a FakeOpenAI; may be changed while it runs. Delays are in seconds."""

    models: list[str] = field(default_factory=lambda: ["smollm2"])
    n_ctx: int = 4096
    props: bool = True  # llama.cpp's /props; False answers 404 like vLLM or LM Studio
    timings: bool = True  # llama.cpp's `timings` on the last chunk; False like vLLM
    usage: bool = True  # honour stream_options.include_usage; False like llama-cpp-python
    vision: bool = True  # False: an image part is refused with HTTP 500 (no --mmproj)
    json_schema: bool = True  # False: response_format json_schema is refused with HTTP 400
    prompt_eval_s: float = 0.0  # before the first token (prompt and image processing)
    prompt_token_s: float = 0.0  # prompt processing per prompt token, on top of prompt_eval_s
    # llama-server's -np: requests generating at once; the rest queue for a slot, first come
    # first served, and the wait is in no timing the server reports
    parallel: int = 1
    # 0: an image is IMAGE_TOKENS prompt tokens; N: ceil(width/N) × ceil(height/N), as patch
    # encoders count them, so prompt tokens grow with the pixels
    image_patch_px: int = 0
    token_delay_s: float = 0.0  # between tokens, after the first
    jitter: float = 0.0  # relative, uniform, on every delay: 0.05 = ±5%
    seed: int = 0  # seeds the jitter
    reply: str | Callable[[Body], str] = '{"ok": true}'  # a callable gets the request body
    # llama-server closes its end of the connection after each streamed reply, though it
    # announces keep-alive (checked against b1-0c1e570): this long after the stream's end; None
    # keeps it open, as vLLM and Ollama's /v1 do
    close_after_stream_s: float | None = None
    # more GET routes and their JSON, e.g. vLLM's {"/version": {"version": "0.6.3"}} or Ollama's
    # {"/api/version": {"version": "0.24.0"}} (with props=False)
    routes: dict[str, Body] = field(default_factory=dict)


class _ErrorReply(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _error(status: int, message: str, kind: str) -> Body:
    return {"error": {"code": status, "message": message, "type": kind}}


class FakeOpenAI(FakeServer[FakeOpenAIConfig]):
    """A running fake OpenAI-compatible server; see the module docstring. A context manager."""

    faults = FAULTS

    def __init__(self, config: FakeOpenAIConfig | None = None) -> None:
        super().__init__(config or FakeOpenAIConfig(), _Handler)
        self.requests: list[tuple[str, str, Body | None]] = []
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self._slots = Slots(max(1, self.config.parallel))  # -np: requests generating at once

    def chats(self) -> list[Body]:
        """The bodies of every chat completion received, in order."""
        return [b for _, path, b in self.requests if path == "/v1/chat/completions" and b]

    def _record(self, method: str, path: str, body: Body | None) -> None:
        with self._lock:
            self.requests.append((method, path, body))


class _Handler(FakeHandler[FakeOpenAI]):
    stream_type = "text/event-stream"

    def send_response(self, code: int, message: str | None = None) -> None:
        self.send_response_only(code, message)
        self.send_header("Server", "llama.cpp")

    def _json(self, status: int, obj: Body, *, cut: bool = False) -> None:
        """A JSON reply; `cut`: its headers and only the first half of its body."""
        data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if cut else data)

    def _event(self, data: str) -> None:
        """One server-sent event as one HTTP chunk, written (hence flushed) at once."""
        self._write_chunk(f"data: {data}\n\n".encode())

    def _chunk(self, obj: Body) -> None:
        self._event(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_HEAD = do_GET

    def _dispatch(self) -> None:
        self._streaming = False
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        self.fake._record(self.command, path, parsed if isinstance(parsed, dict) else None)
        with self.fake._lock:
            self.fake.authorizations.append(self.headers.get("Authorization"))
        try:
            self._route(path, raw, parsed)
        except _ErrorReply as error:
            body = _error(error.status, error.message, error.kind)
            if self._streaming:  # llama-server: an error event, then the stream ends
                self._chunk(body)
                self._end_stream()
            else:
                self._json(error.status, body)
        except (Stopped, OSError):
            self.close_connection = True

    def _route(self, path: str, raw: bytes, parsed: Any) -> None:
        config = self.fake.config
        if path == "/health" and self.command == "GET":
            return self._json(200, {"status": "ok"})
        if path in ("/v1/models", "/models") and self.command == "GET":
            return self._json(200, self._models())
        if path == "/props" and self.command == "GET" and config.props:
            return self._json(200, self._props())
        if path in config.routes and self.command == "GET":
            return self._json(200, config.routes[path])
        if path in ("/v1/chat/completions", "/chat/completions") and self.command == "POST":
            if not isinstance(parsed, dict):
                raise _ErrorReply(500, f"parse error: {raw[:40]!r}", "server_error")
            return self._chat(parsed)
        raise _ErrorReply(404, "File Not Found", "not_found_error")

    def _models(self) -> Body:
        created = int(time.time())
        data = [
            {"id": m, "aliases": [m], "tags": [], "object": "model", "created": created}
            | {"owned_by": "llamacpp", "meta": {"n_ctx": self.fake.config.n_ctx}}
            for m in self.fake.config.models
        ]
        return {"object": "list", "data": data}

    def _props(self) -> Body:
        config = self.fake.config
        return {
            "default_generation_settings": {"params": {"temperature": 0.8}, "n_ctx": config.n_ctx},
            "total_slots": max(1, config.parallel),
            "model_alias": config.models[0],
            "model_path": f"/models/{config.models[0]}.gguf",
            "modalities": {"vision": config.vision, "video": False, "audio": False},
            "build_info": BUILD_INFO,
            "is_sleeping": False,
        }

    # -- chat completions ------------------------------------------------------------------------

    def _check(self, body: Body) -> int:
        """Validate as llama-server does; returns the prompt's token count."""
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise _ErrorReply(400, "Expected 'messages' to be an array", "invalid_request_error")
        form = body.get("response_format")
        if isinstance(form, dict):
            kind = form.get("type")
            allowed = _FORMS if self.fake.config.json_schema else ("text", "json_object")
            if kind not in allowed:
                words = " or ".join(f'"{k}"' for k in allowed)
                raise _ErrorReply(
                    400,
                    f"response_format type must be one of {words}, but got: {kind}",
                    "invalid_request_error",
                )
        tokens = 10
        for message in messages:
            message = message if isinstance(message, dict) else {}  # no object: no content
            if "content" not in message:
                if message.get("role") != "assistant":
                    text = "All non-assistant messages must contain 'content'"
                elif "tool_calls" in message:
                    continue
                else:
                    text = "Assistant message must contain either 'content' or 'tool_calls'!"
                raise _ErrorReply(400, text, "invalid_request_error")
            content = message["content"]
            if content is None or isinstance(content, str):
                content = [{"type": "text", "text": content}]
            elif not isinstance(content, list):
                raise _ErrorReply(
                    400, "Expected 'content' to be a string or an array", "invalid_request_error"
                )
            for part in content:
                # llama-server reads a part's type with a default of "": a part that is no
                # object, or of another type, is refused like any unknown type
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "image_url":
                    tokens += self._image_tokens(part)
                elif kind == "text":
                    tokens += 4 + len(_WORD_RE.findall(str(part.get("text") or "")))
                else:
                    raise _ErrorReply(400, "unsupported content[].type", "invalid_request_error")
        if tokens > self.fake.config.n_ctx:
            raise _ErrorReply(
                400,
                f"request ({tokens} tokens) exceeds the available context size "
                f"({self.fake.config.n_ctx} tokens), try increasing it",
                "exceed_context_size_error",
            )
        return tokens

    def _image_tokens(self, part: Body) -> int:
        if not self.fake.config.vision:
            raise _ErrorReply(500, NO_MMPROJ, "server_error")
        url = str((part.get("image_url") or {}).get("url") or "")
        header, _, data = url.partition(",")
        try:
            if not header.startswith("data:image/") or not header.endswith(";base64"):
                raise ValueError(header)
            decoded = base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error):
            raise _ErrorReply(400, "Invalid image_url", "invalid_request_error") from None
        patch = self.fake.config.image_patch_px
        if patch <= 0:
            return IMAGE_TOKENS
        from PIL import Image  # here, as in fake_ollama: the plain servers need no Pillow

        try:
            with Image.open(io.BytesIO(decoded)) as image:
                width, height = image.size  # the header only: nothing is decoded
        except (ValueError, OSError):  # not an image the fake can read: the fixed count
            return IMAGE_TOKENS
        return math.ceil(width / patch) * math.ceil(height / patch)

    def _chat(self, body: Body) -> None:
        fake = self.fake
        prompt_tokens = self._check(body)
        fault = fake._pop_fault()
        if fault in ("404", "500", "503"):
            model = body.get("model")
            status, message, kind = {
                "404": (404, f"The model `{model}` does not exist.", "not_found_error"),
                "500": (500, SERVER_ERROR, "server_error"),
                "503": (503, LOADING, "unavailable_error"),
            }[fault]
            raise _ErrorReply(status, message, kind)
        stream = body.get("stream") is True
        if fault == "hang":
            if stream:
                self._write_chunk(
                    b":\n\n"
                )  # headers, llama-server's keep-alive comment, then nothing
            fake._stopping.wait()
            raise Stopped
        fake._acquire(fake._slots)
        try:
            self._generate(body, prompt_tokens, fault, stream)
        finally:
            fake._slots.release()

    def _generate(self, body: Body, prompt_tokens: int, fault: str | None, stream: bool) -> None:
        fake, config = self.fake, self.fake.config
        reply = config.reply(body) if callable(config.reply) else config.reply
        tokens, finish = tokens_of(reply), "stop"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        if fault is not None:
            tokens = tokens[: 2 if fault == "reset" else FAULT_AFTER_CHUNKS]
        base: Body = {
            "created": int(time.time()),
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "model": body.get("model") or config.models[0],
            "system_fingerprint": BUILD_INFO,
            "object": "chat.completion.chunk",
        }

        def chunk(delta: Body, reason: str | None = None) -> Body:
            return {"choices": [{"finish_reason": reason, "index": 0, "delta": delta}]} | base

        prompt_started = time.perf_counter()
        prompt_s = config.prompt_eval_s + config.prompt_token_s * prompt_tokens
        fake._wait_until(prompt_started + fake._jittered(prompt_s))
        generation_started = deadline = time.perf_counter()
        prompt_ms = (generation_started - prompt_started) * 1000
        if stream:
            self._chunk(chunk({"role": "assistant", "content": None}))
        for index, token in enumerate(tokens):
            if index:  # the first token is sampled as the prompt is done
                deadline += fake._jittered(config.token_delay_s)
                fake._wait_until(deadline)
            if stream:
                self._chunk(chunk({"content": token}))
        predicted_ms = (time.perf_counter() - generation_started) * 1000
        if fault == "midstream_error":
            raise _ErrorReply(500, SERVER_ERROR, "server_error")
        message = {"role": "assistant", "content": "".join(tokens)}
        whole: Body = {"choices": [{"finish_reason": None, "index": 0, "message": message}]}
        whole |= base | {"object": "chat.completion"}
        if fault == "no_done":  # no finish_reason, no usage, no timings (and no [DONE])
            return self._end_stream() if stream else self._json(200, whole)
        if fault in ("truncated", "reset"):
            if not stream:  # a reply's headers, then half its body
                self._json(200, whole, cut=True)
            if fault == "reset":
                return self._reset()
            self.close_connection = True  # FIN without the rest (or the terminating chunk)
            return None
        usage = {
            "completion_tokens": len(tokens),
            "prompt_tokens": prompt_tokens,
            "total_tokens": len(tokens) + prompt_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        timings = {
            "cache_n": 0,
            "prompt_n": prompt_tokens,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": prompt_ms / prompt_tokens,
            "prompt_per_second": prompt_tokens / prompt_ms * 1000 if prompt_ms else 0.0,
            "predicted_n": len(tokens),
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / len(tokens) if tokens else 0.0,
            "predicted_per_second": len(tokens) / predicted_ms * 1000 if predicted_ms else 0.0,
        }
        if not stream:
            whole["choices"][0]["finish_reason"] = finish
            whole |= {"usage": usage} | ({"timings": timings} if config.timings else {})
            return self._json(200, whole)
        last = chunk({}, finish)
        options = body.get("stream_options")
        if config.usage and isinstance(options, dict) and options.get("include_usage"):
            self._chunk(last)
            last = {"choices": []} | base | {"usage": usage}
        self._chunk(last | ({"timings": timings} if config.timings else {}))
        self._event("[DONE]")
        self._end_stream()
        if config.close_after_stream_s is not None:  # a request sent meanwhile goes unread
            fake._stopping.wait(config.close_after_stream_s)
            self.close_connection = True
