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
`json_schema=False` a server that knows only `response_format: {type: json_object}`.
Timings are *measured* around the injected delays, as llama.cpp measures its own: the first token
comes as the prompt is done, `predicted_ms` runs from there to the last token.

Faults (`inject`) are taken by the next chat completions that would generate text.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

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
_TOKEN_RE = re.compile(r"\s*\S{1,4}|\s+")  # tokens concatenate back exactly to the reply
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
    token_delay_s: float = 0.0  # between tokens, after the first
    jitter: float = 0.0  # relative, uniform, on every delay: 0.05 = ±5%
    seed: int = 0  # seeds the jitter
    reply: str | Callable[[Body], str] = '{"ok": true}'  # a callable gets the request body
    # more GET routes and their JSON, e.g. vLLM's {"/version": {"version": "0.6.3"}} or Ollama's
    # {"/api/version": {"version": "0.24.0"}} (with props=False)
    routes: dict[str, Body] = field(default_factory=dict)


class _ErrorReply(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


class _Stopped(Exception):
    """The server is stopping: abandon the request."""


def _error(status: int, message: str, kind: str) -> Body:
    return {"error": {"code": status, "message": message, "type": kind}}


class FakeOpenAI:
    """A running fake OpenAI-compatible server; see the module docstring. A context manager."""

    def __init__(self, config: FakeOpenAIConfig | None = None) -> None:
        self.config = config or FakeOpenAIConfig()
        self.requests: list[tuple[str, str, Body | None]] = []
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self._lock = threading.Lock()
        self._slot = threading.Lock()  # -np 1: one request generates at a time
        self._faults: deque[str] = deque()
        self._rng = random.Random(self.config.seed)
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAI is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeOpenAI:
        self._stopping.clear()
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests in progress (even a "hang") are cut off, not waited for."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with httpd.lock:
            connections, handlers = list(httpd.connections), list(httpd.handlers)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for thread in [*handlers, self._thread]:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def inject(self, fault: str, count: int = 1) -> None:
        """Give the next `count` generating chat completions this fault."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        with self._lock:
            self._faults.extend([fault] * count)

    def chats(self) -> list[Body]:
        """The bodies of every chat completion received, in order."""
        return [b for _, path, b in self.requests if path == "/v1/chat/completions" and b]

    def _record(self, method: str, path: str, body: Body | None) -> None:
        with self._lock:
            self.requests.append((method, path, body))

    def _pop_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _jittered(self, seconds: float) -> float:
        with self._lock:
            return seconds * (1.0 + self.config.jitter * self._rng.uniform(-1.0, 1.0))

    def _wait_until(self, deadline: float) -> None:
        while (remaining := deadline - time.perf_counter()) > 0:
            if self._stopping.wait(remaining):
                break
        if self._stopping.is_set():
            raise _Stopped


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.handlers: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-stream is normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    _streaming = False

    @property
    def fake(self) -> FakeOpenAI:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        server = cast(_Server, self.server)
        with server.lock:
            server.connections.add(self.connection)
            server.handlers.add(threading.current_thread())

    def finish(self) -> None:
        with suppress(OSError):
            super().finish()
        server = cast(_Server, self.server)
        with server.lock:
            server.connections.discard(self.connection)
            server.handlers.discard(threading.current_thread())

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        self.send_response_only(code, message)
        self.send_header("Server", "llama.cpp")

    def _json(self, status: int, obj: Body) -> None:
        data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, data: str) -> None:
        """One server-sent event as one HTTP chunk, written (hence flushed) at once."""
        self._raw(f"data: {data}\n\n".encode())

    def _raw(self, payload: bytes) -> None:
        if not self._streaming:
            self._streaming = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))

    def _chunk(self, obj: Body) -> None:
        self._event(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        self.close_connection = True
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()

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
        except (_Stopped, OSError):
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
            "total_slots": 1,
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
            content = message.get("content") if isinstance(message, dict) else None
            parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
            for part in parts:
                if part.get("type") == "image_url":
                    tokens += self._image_tokens(part)
                else:
                    tokens += 4 + len(_WORD_RE.findall(str(part.get("text") or "")))
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
            base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error):
            raise _ErrorReply(400, "Invalid image_url", "invalid_request_error") from None
        return IMAGE_TOKENS

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
                self._raw(b":\n\n")  # headers and llama-server's keep-alive comment, then nothing
            fake._stopping.wait()
            raise _Stopped
        while not fake._slot.acquire(timeout=0.05):
            if fake._stopping.is_set():
                raise _Stopped
        try:
            self._generate(body, prompt_tokens, fault, stream)
        finally:
            fake._slot.release()

    def _generate(self, body: Body, prompt_tokens: int, fault: str | None, stream: bool) -> None:
        fake, config = self.fake, self.fake.config
        reply = config.reply(body) if callable(config.reply) else config.reply
        tokens, finish = _TOKEN_RE.findall(reply), "stop"
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
        fake._wait_until(prompt_started + fake._jittered(config.prompt_eval_s))
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
        if fault == "no_done":  # the stream just ends: no finish_reason, no usage, no [DONE]
            return self._end_stream()
        if fault in ("truncated", "reset"):
            if fault == "reset":
                return self._reset()
            self.close_connection = True  # FIN without the terminating zero-length chunk
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
            message = {"role": "assistant", "content": "".join(tokens)}
            whole: Body = {"choices": [{"finish_reason": finish, "index": 0, "message": message}]}
            whole |= base | {"object": "chat.completion", "usage": usage}
            return self._json(200, whole | ({"timings": timings} if config.timings else {}))
        last = chunk({}, finish)
        options = body.get("stream_options")
        if config.usage and isinstance(options, dict) and options.get("include_usage"):
            self._chunk(last)
            last = {"choices": []} | base | {"usage": usage}
        self._chunk(last | ({"timings": timings} if config.timings else {}))
        self._event("[DONE]")
        self._end_stream()
