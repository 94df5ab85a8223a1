"""A protocol-faithful stand-in for an Ollama v0.24.0 server, for the tests of this project.

No Ollama binary, GPU or model weights exist on the build machines, so every test talks to this
server instead: a real HTTP/1.1 server on a real socket (127.0.0.1, ephemeral port) in a background
thread. It reproduces what ../shared/reference/ollama-api.md documents (§1 conventions, §2
endpoints, §3 images, §6 errors, §9 checklist): chunked NDJSON streams flushed per token, Go-style
timestamps and JSON escaping, model-name resolution, nanosecond metrics *measured* around its own
injected delays, cold loads and option-triggered reloads, a queue for each loaded model's slots
(one, as for mllama, unless `num_parallel` says more), prompt tokens that grow with an image's
pixels when asked (`image_patch_px`), the exact error strings, and faults (error statuses, broken
streams, resets, hangs) a client must survive.
The official ``ollama`` client is the independent peer that checks it (tests/test_fake_ollama.py).

Faults (FakeOllama.inject) are taken by the next /api/chat or /api/generate requests that would
generate text; load/unload calls and requests rejected by validation leave them queued. What the
official client raises for each is pinned down in tests/test_fake_ollama.py.

Hostile servers exist too, so the fake can play one: error texts and versions holding rich markup
or terminal escape codes (`fault_message`, `version`, FakeModel.digest), lying durations
(`metrics`), a stream held open after its final chunk (fault "hold_open"), lone surrogates in
content (escaped as `\\ud800`, as no Go server would), whole replies in a few huge chunks
(`chunk_chars`), and an auth proxy in front (`require_auth`).

Standalone, it answers the bundled scenarios plausibly, so obench can be tried without Ollama:

    python -m tests.fake_ollama                             # :11434, and 8× slower :11435
    python -m tests.fake_ollama --port 11434 --slowdown 8   # one server
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import math
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

try:
    from fake_http import FakeHandler, FakeServer, Slots, Stopped, tokens_of
except ModuleNotFoundError:  # run from the checkout as `python3 -m tests.fake_ollama`
    from tests.fake_http import FakeHandler, FakeServer, Slots, Stopped, tokens_of

FAULTS = (
    "404",
    "500",
    "503",
    "midstream_error",
    "truncated",
    "no_done",
    "reset",
    "hang",
    "hold_open",  # the final done chunk is sent, then the stream is neither ended nor closed
)
RUNNER_STOPPED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an"
    " internal error, check ollama server logs for details"
)
SERVER_BUSY = "server busy, please try again.  maximum pending requests exceeded"
ONE_IMAGE = "this model only supports one image while more than one image requested"
MLLAMA_UNKNOWN = (
    "llama-server process has terminated: exit status 1: error loading model: unknown model"
    " architecture: 'mllama'\nerror loading model: unknown model architecture: 'mllama'"
)
PULL_UNKNOWN = "pull model manifest: file does not exist"
JSON_TYPE = "application/json; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"

DEFAULT_NUM_CTX = 4096  # v0.24.0 default on a host with < 23 GiB VRAM or no GPU (§5)
DEFAULT_KEEP_ALIVE_NS = 5 * 60 * 10**9
FOREVER_NS = 2**63 - 1  # Go clamps a negative keep_alive to the max time.Duration
DEFAULT_PULL_LAYERS = (7_816_580_733, 269, 7_711, 473)  # sums to FakeModel().size
PULL_STEPS = 3  # progress lines per downloaded layer after the first (completed omitted) one
FAULT_AFTER_CHUNKS = 3  # content chunks sent before a stream fault strikes ("reset": 2)
_WORD_RE = re.compile(r"\w+|[^\w\s]")
_NAME_PARTS = (  # Go's name grammar, loosely: host, namespace, model, tag
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,349}"),
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}"),
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}"),
    re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
)
_DURATION_RE = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9}
_UNIT_NS |= {"m": 60 * 10**9, "h": 3600 * 10**9}
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_ROUTES = {
    "/": {"GET", "HEAD"},
    "/api/version": {"GET", "HEAD"},
    "/api/tags": {"GET", "HEAD"},
    "/api/ps": {"GET", "HEAD"},
    "/api/show": {"POST"},
    "/api/pull": {"POST"},
    "/api/chat": {"POST"},
    "/api/generate": {"POST"},
}

Body = dict[str, Any]


@dataclass
class FakeModel:
    """One locally present model, as /api/tags lists it."""

    name: str = "llama3.2-vision:latest"
    digest: str = ""  # 64 hex, derived from the name when left empty
    size: int = 7_816_589_186
    family: str = "mllama"
    parameter_size: str = "10.7B"
    quantization_level: str = "Q4_K_M"
    capabilities: list[str] = field(default_factory=lambda: ["completion", "vision"])

    def __post_init__(self) -> None:
        parts = _parse_name(self.name)
        if parts is not None:
            self.name = _display(parts)  # the tag is always shown
        if not self.digest:
            self.digest = hashlib.sha256(self.name.lower().encode()).hexdigest()


@dataclass
class FakeConfig:
    """Behaviour of a FakeOllama; may be changed while it runs. Delays are in seconds."""

    version: str = "0.24.0"  # >= 0.30.0: every load of a family "mllama" model fails with 500
    models: list[FakeModel] = field(default_factory=lambda: [FakeModel()])
    load_s: float = 0.0  # cold load: first use, after an unload, after a runner-option change
    prompt_eval_s: float = 0.0  # before the first token (prompt and image processing)
    token_delay_s: float = 0.0  # before each generated token
    stall_s: float = 0.0  # an extra pause before token number stall_at_token (0-based)
    stall_at_token: int = -1  # -1: no stall
    prompt_token_s: float = 0.0  # prompt eval time per prompt token, on top of prompt_eval_s
    # sha256 (hex) of an image → factor on prompt_eval_s and token_delay_s for requests that send
    # it: real servers take longer over some images (more tiles, longer replies) than others
    image_factors: dict[str, float] = field(default_factory=dict)
    jitter: float = 0.0  # relative, uniform, on every delay above and pull_step_s: 0.05 = ±5%
    seed: int = 0  # seeds the jitter
    reply: str | Callable[[Body], str] = '{"ok": true}'  # a callable gets the request body
    vram_fraction: float = 1.0  # size_vram / size in /api/ps; options.num_gpu 0 forces 0
    # Requests a loaded model serves at once (OLLAMA_NUM_PARALLEL); the rest queue for a slot,
    # inside total_duration. Real Ollama forces 1 for mllama; more stands in for other models.
    num_parallel: int = 1
    # 0: an image is one prompt token (mllama). N: ceil(width/N) × ceil(height/N) tokens, as
    # patch encoders count them (Qwen2.5-VL: 28 px), so prompt tokens grow with the pixels.
    image_patch_px: int = 0
    pull_layers: list[int] = field(default_factory=lambda: list(DEFAULT_PULL_LAYERS))  # bytes
    pull_step_s: float = 0.0  # between pull progress lines
    pull_known: set[str] | None = None  # names the "registry" has; None: every name
    pull_error: str = ""  # streamed as {"error": …} after pull_fail_after lines (e.g. disk full)
    pull_reset: bool = False  # TCP reset after pull_fail_after lines: the connection is lost
    pull_fail_after: int = 3  # progress lines sent before pull_error / pull_reset strikes
    fault_message: str = ""  # replaces the error text of the 404/500/503/midstream_error faults
    metrics: dict[str, int] = field(default_factory=dict)  # final-chunk metrics to lie with
    chunk_chars: int = 0  # > 0: stream the reply in pieces of this many characters, not tokens
    require_auth: str | None = None  # an auth proxy: other Authorization values get HTTP 401
    version_body: Any = None  # when set, /api/version answers this (JSON, or bytes as they are)


@dataclass
class _Runner:
    """A loaded model: the runner options it was loaded with and where it sits."""

    settings: tuple[Any, ...]
    num_ctx: int
    size_vram: int
    keep_alive_ns: int
    expires_ns: int | None = None  # None while a request is using it


class _ErrorReply(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _parse_name(name: str) -> tuple[str, str, str, str] | None:
    """`[host/][namespace/]model[:tag]` → (host, namespace, model, tag), or None if invalid."""
    rest, tag = name, "latest"
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1 :]
    given = rest.split("/")
    if len(given) > 3:
        return None
    host, namespace, model = ["registry.ollama.ai", "library"][: 3 - len(given)] + given
    parts = (host, namespace, model, tag)
    if not all(rx.fullmatch(p) for rx, p in zip(_NAME_PARTS, parts, strict=True)):
        return None
    return parts


def _key(parts: tuple[str, str, str, str]) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts)  # parts match case-insensitively (§9.1)


def _display(parts: tuple[str, str, str, str]) -> str:
    host, namespace, model, tag = parts
    if host.lower() != "registry.ollama.ai":
        return f"{host}/{namespace}/{model}:{tag}"
    return f"{model}:{tag}" if namespace.lower() == "library" else f"{namespace}/{model}:{tag}"


def _rfc3339(ns: int) -> str:
    """UTC RFC 3339 with up to nine fractional digits, trailing zeros cut, like Go."""
    seconds, fraction = divmod(ns, 10**9)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def _dumps(obj: Any) -> bytes:
    """Compact JSON escaped the way Go's encoder does it."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate cannot be UTF-8: send its JSON escape, as a hostile non-Go server might.
    text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8", "replace")


def _unmarshal_error(value: Any, target: str) -> str:
    """Go's message for a JSON value of the wrong type, e.g. a number where a string belongs."""
    kinds = {bool: "bool", str: "string", int: "number", float: "number", list: "array"}
    kind = "object" if isinstance(value, dict) else kinds.get(type(value), "null")
    return f"json: cannot unmarshal {kind} into Go {target}"


def _base64_error(text: str) -> int | None:
    """Offset Go's base64.StdEncoding reports for `text` (a port of decodeQuantum), or None."""
    with suppress(ValueError):  # fast path: C-speed check of canonical padded base64
        base64.b64decode(text, validate=True)
        return None
    src, si = text.encode("utf-8", "surrogatepass"), 0
    while si < len(src):
        j = 0
        while j < 4:
            if si == len(src):
                return None if j == 0 else si - j
            char = src[si]
            si += 1
            if char in _B64:
                j += 1
            elif char in b"\r\n":
                continue
            elif char != ord("=") or j < 2:
                return si - 1
            else:  # padding: "==" after two symbols, "=" after three, then only newlines
                if j == 2:
                    while si < len(src) and src[si] in b"\r\n":
                        si += 1
                    if si == len(src):
                        return si
                    if src[si] != ord("="):
                        return si - 1
                    si += 1
                while si < len(src) and src[si] in b"\r\n":
                    si += 1
                return si if si < len(src) else None
    return None


def _keep_alive_ns(value: Any) -> int | None:
    """A keep_alive value (seconds, or a Go duration string) in ns; None when absent."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        ns = int(value * 10**9)
    elif isinstance(value, str) and value in ("0", "+0", "-0"):
        ns = 0
    elif isinstance(value, str) and _DURATION_RE.fullmatch(value):
        ns = sum(int(float(n) * _UNIT_NS[u]) for n, u in _DURATION_PART.findall(value))
        ns = -ns if value.startswith("-") else ns
    elif isinstance(value, str):
        missing = re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", value)
        problem = "missing unit in" if missing else "invalid"
        raise _ErrorReply(400, f"time: {problem} duration {json.dumps(value)}")
    else:
        raise _ErrorReply(400, _unmarshal_error(value, "value of type api.Duration"))
    return FOREVER_NS if ns < 0 else ns


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = [int(n) for n in re.findall(r"\d+", version.split("-")[0])[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def _options(body: Body) -> Body:
    options = body.get("options")
    return options if isinstance(options, dict) else {}


def _details(model: FakeModel) -> Body:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    }


class FakeOllama(FakeServer[FakeConfig]):
    """A running fake Ollama server; see the module docstring. Use as a context manager."""

    faults = FAULTS

    def __init__(self, config: FakeConfig | None = None, *, port: int = 0) -> None:
        super().__init__(config or FakeConfig(), _Handler, port=port)
        self.requests: list[tuple[str, str, Body | None]] = []
        self.headers: list[tuple[str, dict[str, str]]] = []  # (path, headers) of every request
        self._runners: dict[str, _Runner] = {}  # this state and `requests`: under self._lock
        self._slots: dict[str, Slots] = {}
        self._modified: dict[str, int] = {}

    def inject_sequence(self, faults: list[str | None]) -> None:
        """Give the next generating requests these faults in order; None serves one normally."""
        self._check_faults(faults)
        with self._lock:
            self._faults.extend(faults)

    def unload(self) -> None:
        """Forget every loaded model: the next inference pays a cold load again."""
        with self._lock:
            self._runners.clear()

    # -- state used by the request handler -------------------------------------------------

    def _record(self, method: str, path: str, body: Body | None, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, body))
            self.headers.append((path, headers))

    def _pause(self, seconds: float) -> None:
        """Sleep `seconds` ± jitter."""
        self._wait_until(time.perf_counter() + self._jittered(seconds))

    def _find(self, parts: tuple[str, str, str, str]) -> FakeModel | None:
        for model in self.config.models:
            mine = _parse_name(model.name)
            if mine is not None and _key(mine) == _key(parts):
                return model
        return None

    def _modified_ns(self, model: FakeModel) -> int:
        key = model.name.lower()
        with self._lock:
            if key not in self._modified:  # configured models: a day old, in list order
                index = self.config.models.index(model) if model in self.config.models else 0
                self._modified[key] = time.time_ns() - 86_400 * 10**9 - index * 60 * 10**9
            return self._modified[key]

    def _slot(self, model: FakeModel) -> Slots:
        with self._lock:
            slots = max(1, self.config.num_parallel)
            return self._slots.setdefault(model.name.lower(), Slots(slots))

    def _load(self, model: FakeModel, options: Body, keep_alive_ns: int) -> None:
        """Make `model` resident with these runner options, paying load_s when (re)loading."""
        key = model.name.lower()
        num_ctx = int(options.get("num_ctx") or DEFAULT_NUM_CTX)
        if "vision" in model.capabilities:
            num_ctx = max(num_ctx, 2048)  # the scheduler raises vision models to 2048
        num_gpu = options.get("num_gpu", -1)
        settings = (num_ctx, num_gpu, *(options.get(k) for k in ("num_thread", "num_batch")))
        settings += (options.get("main_gpu"), options.get("use_mmap"))
        with self._lock:
            self._expire()
            runner = self._runners.get(key)
            wanted = settings
            if runner is not None and isinstance(num_gpu, int) and num_gpu < 0:
                wanted = (num_ctx, runner.settings[1], *settings[2:])  # num_gpu -1 never reloads
            cold = runner is None or runner.settings != wanted
            if cold:
                self._runners.pop(key, None)
        if cold:
            if _version_tuple(self.config.version) >= (0, 30, 0) and model.family == "mllama":
                raise _ErrorReply(500, MLLAMA_UNKNOWN)
            self._pause(self.config.load_s)
            fraction = min(max(self.config.vram_fraction, 0.0), 1.0)
            vram = 0 if num_gpu == 0 else round(model.size * fraction)
            runner = _Runner(settings, num_ctx, vram, keep_alive_ns)
        with self._lock:
            assert runner is not None
            runner.keep_alive_ns, runner.expires_ns = keep_alive_ns, None
            self._runners[key] = runner

    def _release(self, model: FakeModel, keep_alive_ns: int) -> None:
        with self._lock:
            runner = self._runners.get(model.name.lower())
            if runner is not None and keep_alive_ns == 0:
                del self._runners[model.name.lower()]
            elif runner is not None:
                runner.expires_ns = time.time_ns() + keep_alive_ns

    def _expire(self) -> None:
        now = time.time_ns()
        for key, runner in list(self._runners.items()):
            if runner.expires_ns is not None and runner.expires_ns < now:
                del self._runners[key]


class _Handler(FakeHandler[FakeOllama]):
    stream_type = NDJSON_TYPE
    _hold_open = False

    # -- plumbing ----------------------------------------------------------------------------

    def send_response(self, code: int, message: str | None = None) -> None:
        self.send_response_only(code, message)  # like Go: a Date header and no Server header
        self.send_header("Date", self.date_time_string())

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Body) -> None:
        self._send(status, _dumps(obj), JSON_TYPE)

    def _line(self, obj: Body) -> None:
        """One NDJSON line as one HTTP chunk."""
        self._write_chunk(_dumps(obj) + b"\n")

    def _linger(self) -> None:
        """Keep the connection open, sending nothing, until the client hangs up or stop()."""
        self.close_connection = True
        while not self.fake._stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                return

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        started_ns = time.perf_counter_ns()  # "handler entry" for total_duration
        self._streaming = self._hold_open = False
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError as error:  # kept for _body, which words it as Go would
            parsed = error
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake._record(self.command, path, parsed if isinstance(parsed, dict) else None, headers)
        required = self.fake.config.require_auth
        if required is not None and headers.get("authorization") != required:
            self._json(401, {"error": "unauthorized"})
            return
        try:
            self._route(path, raw, parsed, started_ns)
            if self._hold_open:  # after the slot is released: the model is free for others
                self._linger()
        except (Stopped, OSError):  # stopping, or the peer went away: drop the connection
            self.close_connection = True

    def _route(self, path: str, raw: bytes, parsed: Any, started_ns: int) -> None:
        try:
            if path not in _ROUTES:
                return self._send(404, b"404 page not found", "text/plain")
            if self.command not in _ROUTES[path]:
                return self._send(405, b"405 method not allowed", "text/plain")
            if path == "/":
                return self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
            if path == "/api/version":
                body = self.fake.config.version_body
                if body is not None:
                    raw = body if isinstance(body, bytes) else _dumps(body)
                    return self._send(200, raw, JSON_TYPE)
                return self._json(200, {"version": self.fake.config.version})
            if path == "/api/tags":
                return self._tags()
            if path == "/api/ps":
                return self._ps()
            body = self._body(raw, parsed, path.removeprefix("/api/").title())
            if path == "/api/show":
                return self._show(body)
            if path == "/api/pull":
                return self._pull(body)
            return self._infer("chat" if path == "/api/chat" else "generate", body, started_ns)
        except _ErrorReply as error:  # before any output: a real status; after: an NDJSON line
            if self._streaming:
                self._line({"error": error.message})
                self._end_stream()
            else:
                self._json(error.status, {"error": error.message})

    def _body(self, raw: bytes, parsed: Any, request_type: str) -> Body:
        if not raw:
            raise _ErrorReply(400, "missing request body")
        if isinstance(parsed, json.JSONDecodeError) and parsed.pos >= len(parsed.doc.rstrip()):
            raise _ErrorReply(400, "unexpected EOF")
        if isinstance(parsed, ValueError):
            bad = parsed.doc[parsed.pos] if isinstance(parsed, json.JSONDecodeError) else "\ufffd"
            wanted = "object key string" if "property name" in str(parsed) else "value"
            raise _ErrorReply(400, f"invalid character {bad!r} looking for beginning of {wanted}")
        if not isinstance(parsed, dict):
            raise _ErrorReply(
                400, _unmarshal_error(parsed, f"value of type api.{request_type}Request")
            )
        return parsed

    # -- model listing -----------------------------------------------------------------------

    def _tags(self) -> None:
        entries = []
        for model in list(self.fake.config.models):
            modified = self.fake._modified_ns(model)
            entry: Body = {"name": model.name, "model": model.name}
            entry["modified_at"] = _rfc3339(modified)
            entry |= {"size": model.size, "digest": model.digest, "details": _details(model)}
            entries.append((modified, entry))
        entries.sort(key=lambda item: -item[0])
        self._json(200, {"models": [entry for _, entry in entries]})

    def _ps(self) -> None:
        fake, now = self.fake, time.time_ns()
        with fake._lock:
            fake._expire()
            runners = dict(fake._runners)
        entries = []
        for model in list(fake.config.models):
            runner = runners.get(model.name.lower())
            if runner is None:
                continue
            expires = runner.expires_ns or now + runner.keep_alive_ns
            entry: Body = {"name": model.name, "model": model.name, "size": model.size}
            entry |= {"digest": model.digest, "details": _details(model)}
            entry |= {"expires_at": _rfc3339(expires), "size_vram": runner.size_vram}
            entries.append((expires, entry | {"context_length": runner.num_ctx}))
        entries.sort(key=lambda item: -item[0])
        self._json(200, {"models": [entry for _, entry in entries]})

    def _show(self, body: Body) -> None:
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _ErrorReply(400, "model is required")
        parts = _parse_name(str(name))
        model = self.fake._find(parts) if parts else None
        if model is None:
            raise _ErrorReply(404, f"model '{name}' not found")
        arch = model.family
        template = (
            "{{- range $index, $_ := .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>"
            "\n\n{{ .Content }}{{- if gt (len (slice $.Messages $index)) 1 }}<|eot_id|>{{- else }}"
            "{{ if .Images }}<|image|>{{ end }}<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\n{{ end }}{{- end }}"
        )
        info = {"general.architecture": arch, "general.file_type": 15}
        info |= {"general.parameter_count": 9_775_192_609, "general.quantization_version": 2}
        info |= {f"{arch}.context_length": 131_072, f"{arch}.block_count": 40}
        info |= {f"{arch}.embedding_length": 4096, f"{arch}.vision.image_size": 560}
        info |= {f"{arch}.vision.max_num_tiles": 4}
        self._json(
            200,
            {
                "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
                "parameters": f"temperature{' ' * 20}0.6\ntop_p{' ' * 26}0.9",
                "template": template,
                "details": _details(model),
                "model_info": info,
                "capabilities": list(model.capabilities),
                "modified_at": _rfc3339(self.fake._modified_ns(model)),
            },
        )

    # -- pull --------------------------------------------------------------------------------

    def _pull(self, body: Body) -> None:
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            raise _ErrorReply(400, "model is required")
        parts = _parse_name(name)
        if parts is None:
            raise _ErrorReply(400, "invalid model name")
        config, last = self.fake.config, cast(Body, {})
        for sent, progress in enumerate(self._pull_progress(parts)):
            if last:
                self.fake._pause(config.pull_step_s)
            if sent == config.pull_fail_after and config.pull_reset:
                return self._reset()
            if sent == config.pull_fail_after and config.pull_error:
                progress = {"error": config.pull_error}
            last = progress
            if body.get("stream") is not False:
                self._line(progress)
            if "error" in progress:
                break
        if body.get("stream") is False:
            return self._json(500 if "error" in last else 200, last)
        self._end_stream()

    def _pull_progress(self, parts: tuple[str, str, str, str]) -> Iterator[Body]:
        config, name = self.fake.config, _display(parts)
        yield {"status": "pulling manifest"}
        known = {_key(p) for n in config.pull_known or () if (p := _parse_name(n))}
        if config.pull_known is not None and _key(parts) not in known:
            yield {"error": PULL_UNKNOWN}
            return
        present = self.fake._find(parts) is not None
        for index, total in enumerate(config.pull_layers):
            digest = "sha256:" + hashlib.sha256(f"{name.lower()}#{index}".encode()).hexdigest()
            line = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total}
            for step in [PULL_STEPS] if present else range(PULL_STEPS + 1):
                completed = total * step // PULL_STEPS
                yield line | {"completed": completed} if completed else line
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        if not present:
            with self.fake._lock:
                self.fake._modified[name.lower()] = time.time_ns()
            config.models.append(FakeModel(name=name, size=sum(config.pull_layers)))
        yield {"status": "success"}

    # -- chat and generate -------------------------------------------------------------------

    def _check(self, kind: str, body: Body) -> tuple[FakeModel, list[list[Any]], int | None]:
        """Validate a chat/generate body in v0.24.0's order: the model, images, keep_alive."""
        messages = (body.get("messages") or []) if kind == "chat" else []
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            target = "struct field ChatRequest.messages of type []api.Message"
            raise _ErrorReply(400, _unmarshal_error(messages, target))
        if kind == "chat":
            image_lists = [m.get("images") or [] for m in messages]
        else:
            image_lists = [body.get("images") or []]
        for image in (image for images in image_lists for image in images):
            offset = _base64_error(image) if isinstance(image, str) else 0
            if offset is not None:
                raise _ErrorReply(400, f"illegal base64 data at input byte {offset}")
        keep_alive = _keep_alive_ns(body.get("keep_alive"))
        think, name = body.get("think"), body.get("model", "")
        if not isinstance(name, str):
            raise _ErrorReply(
                400,
                _unmarshal_error(name, f"struct field {kind.title()}Request.model of type string"),
            )
        if not name and kind == "chat":
            raise _ErrorReply(400, "model is required")
        parts = _parse_name(name)
        if parts is None and name:
            raise _ErrorReply(400, "invalid model name")
        model = self.fake._find(parts) if parts else None
        if model is None:  # generate: also for an empty name
            raise _ErrorReply(404, f"model '{name}' not found")
        if body.get("raw") and any(body.get(k) for k in ("template", "system", "context")):
            raise _ErrorReply(400, "raw mode does not support template, system, or context")
        if (think is True or isinstance(think, str)) and "thinking" not in model.capabilities:
            raise _ErrorReply(400, f"{json.dumps(name)} does not support thinking")
        if body.get("tools") and "tools" not in model.capabilities:
            raise _ErrorReply(400, f"{json.dumps(name)} does not support tools")
        if (
            kind == "generate"
            and model.family == "mllama"
            and max(map(len, image_lists), default=0) > 1
        ):
            raise _ErrorReply(400, ONE_IMAGE)  # chat finds this later, after loading: 500
        return model, image_lists, keep_alive

    def _infer(self, kind: str, body: Body, started_ns: int) -> None:
        model, image_lists, keep_alive = self._check(kind, body)
        fake, name = self.fake, body["model"]
        load_only = not body.get("messages") if kind == "chat" else not body.get("prompt")

        def reply(content: str, done: bool) -> Body:
            obj: Body = {"model": name, "created_at": _rfc3339(time.time_ns())}
            if kind == "chat":
                obj["message"] = {"role": "assistant", "content": content}
            else:
                obj["response"] = content
            return obj | {"done": done}

        if load_only and keep_alive == 0:
            with fake._lock:
                fake._runners.pop(model.name.lower(), None)
            return self._json(200, reply("", True) | {"done_reason": "unload"})
        fault = None if load_only else fake._pop_fault()
        if fault in ("404", "500", "503"):
            texts = {"404": f"model '{name}' not found", "500": RUNNER_STOPPED}
            text = fake.config.fault_message or texts.get(fault, SERVER_BUSY)
            raise _ErrorReply(int(fault), text)
        if fault == "hang":  # a stream would have its headers out; a single reply has nothing
            if body.get("stream") is not False:
                self._begin_stream()
            fake._stopping.wait()
            raise Stopped
        options = _options(body)
        keep_alive_ns = DEFAULT_KEEP_ALIVE_NS if keep_alive is None else keep_alive
        slot = fake._slot(model)
        fake._acquire(slot)  # num_parallel slots per model (mllama: 1): the rest queue here
        try:
            load_started = time.perf_counter_ns()
            fake._load(model, options, keep_alive_ns)
            load_ns = time.perf_counter_ns() - load_started
            if load_only:
                return self._json(200, reply("", True) | {"done_reason": "load"})
            if (
                kind == "chat"
                and model.family == "mllama"
                and max(map(len, image_lists), default=0) > 1
            ):
                raise _ErrorReply(500, ONE_IMAGE)
            fmt = body.get("format")
            if fmt not in (None, "", "json") and not isinstance(fmt, dict):
                expected = 'expected "json" or a valid JSON Schema object'
                raise _ErrorReply(500, f"invalid format: {json.dumps(fmt)}; {expected}")
            self._generate(kind, body, fault, reply, started_ns, load_ns)
        finally:
            fake._release(model, keep_alive_ns)
            slot.release()

    def _generate(
        self,
        kind: str,
        body: Body,
        fault: str | None,
        reply: Callable[[str, bool], Body],
        started_ns: int,
        load_ns: int,
    ) -> None:
        fake, config = self.fake, self.fake.config
        stream = body.get("stream") is not False
        factor = self._image_factor(body)
        prompt_started = time.perf_counter_ns()
        prompt_tokens = self._prompt_tokens(body)
        fake._pause((config.prompt_eval_s + config.prompt_token_s * prompt_tokens) * factor)
        prompt_ns = time.perf_counter_ns() - prompt_started
        text = config.reply(body) if callable(config.reply) else config.reply
        tokens, done_reason = tokens_of(text), "stop"
        if config.chunk_chars > 0:
            size = config.chunk_chars
            tokens = [text[i : i + size] for i in range(0, len(text), size)]
        options = _options(body)
        limit = options.get("num_predict")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, done_reason = tokens[:limit], "length"
        if fault is not None and fault != "hold_open":
            tokens = tokens[: 2 if fault == "reset" else FAULT_AFTER_CHUNKS]
        eval_started, deadline = time.perf_counter_ns(), time.perf_counter()
        for index, token in enumerate(tokens):  # each token is due at a fixed time, so write
            deadline += fake._jittered(config.token_delay_s * factor)  # overheads don't add up
            if index == config.stall_at_token:
                deadline += config.stall_s
            fake._wait_until(deadline)
            if stream:
                self._line(reply(token, False))
        eval_ns = time.perf_counter_ns() - eval_started if tokens else 0
        content = "".join(tokens)
        whole = reply(content, False)
        if fault == "midstream_error":
            raise _ErrorReply(500, config.fault_message or RUNNER_STOPPED)
        if fault == "no_done":  # v0.24.0 on a repeated token: the stream just ends
            return self._end_stream() if stream else self._json(200, whole)
        if fault in ("truncated", "reset"):
            if not stream:
                data = _dumps(whole)
                self.send_response(200)
                self.send_header("Content-Type", JSON_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
            if fault == "reset":
                return self._reset()
            self.close_connection = True  # FIN without the terminating zero-length chunk
            return None
        final = reply("" if stream else content, True) | {"done_reason": done_reason}
        if kind == "generate" and not body.get("raw"):
            final["context"] = [128006 + i for i in range(prompt_tokens + len(tokens))]
        metrics = {
            "total_duration": time.perf_counter_ns() - started_ns,
            "load_duration": load_ns,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": prompt_ns,
            "eval_count": len(tokens),
            "eval_duration": eval_ns,
        }
        final |= {k: v for k, v in metrics.items() if v}  # omitempty, like Go
        final |= config.metrics
        if stream:
            self._line(final)
            if fault == "hold_open":  # all was said, yet the stream is neither ended nor closed
                self._hold_open = True
                return None
            return self._end_stream()
        return self._json(200, final)

    def _image_factor(self, body: Body) -> float:
        """The configured delay factor of the first image sent (already validated base64)."""
        factors = self.fake.config.image_factors
        messages = body.get("messages") or [body]
        images = [i for m in messages for i in (m.get("images") or []) if isinstance(i, str)]
        if not factors or not images:
            return 1.0
        digest = hashlib.sha256(base64.b64decode(images[0])).hexdigest()
        return factors.get(digest, 1.0)

    def _prompt_tokens(self, body: Body) -> int:
        """A plausible prompt size: words and marks, template overhead, and the images' tokens."""
        messages = body.get("messages") or [{"content": body.get("prompt"), **body}]
        count = 10
        for message in messages:
            text = f"{message.get('system') or ''} {message.get('content') or ''}"
            count += 4 + len(_WORD_RE.findall(text))
            count += sum(self._image_tokens(image) for image in message.get("images") or [])
        return count

    def _image_tokens(self, image: str) -> int:
        """One token (mllama), or one per image_patch_px square the image's pixels span."""
        patch = self.fake.config.image_patch_px
        if patch <= 0:
            return 1
        from PIL import Image  # here, so that the standalone servers need no Pillow

        try:
            with Image.open(io.BytesIO(base64.b64decode(image))) as decoded:
                width, height = decoded.size  # the header only: nothing is decoded
        except (ValueError, OSError):  # not an image the fake can read: count it as one
            return 1
        return math.ceil(width / patch) * math.ceil(height / patch)


# -- standalone: try obench without Ollama ----------------------------------------------------

BUNDLED_IMAGES = Path(__file__).resolve().parents[1] / "images"
STANDALONE_DELAYS_S = {"load_s": 0.5, "prompt_eval_s": 0.04, "token_delay_s": 0.004}
TRAFFIC_ERRORS = (0, 7, -7)  # per image, as a real model's estimates vary


def _vary(label: Body, index: int) -> Body:
    """The label with its whole numbers off by a few, differently for each image (0–100 kept)."""
    varied: Body = {}
    for key, value in label.items():
        if isinstance(value, dict):
            varied[key] = _vary(value, index)
        elif isinstance(value, int) and not isinstance(value, bool):
            varied[key] = min(100, max(0, value + TRAFFIC_ERRORS[index % len(TRAFFIC_ERRORS)]))
        else:
            varied[key] = value
    return varied


def _placeholder(schema: Any, defs: Body) -> Any:
    """A value of the shape a JSON Schema asks for (pydantic's `$defs`/`$ref` resolved)."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return _placeholder(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1]), defs)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {key: _placeholder(sub, defs) for key, sub in properties.items()}
    defaults = {"string": "unknown", "integer": 0, "number": 0.0, "boolean": False, "array": []}
    return defaults.get(kind) if isinstance(kind, str) else None


def bundled_reply(images: Path = BUNDLED_IMAGES) -> Callable[[Body], str]:
    """Replies for the bundled scenarios: each image's label, varied per image; for any other
    image, a reply of the shape the request's `format` schema asks for."""
    answers: dict[str, Body] = {}
    for labels_file in sorted(images.glob("*/labels.json")):
        labels = json.loads(labels_file.read_text(encoding="utf-8"))
        for index, (name, label) in enumerate(sorted(labels.items())):
            image = labels_file.parent / name
            if image.is_file():
                answers[hashlib.sha256(image.read_bytes()).hexdigest()] = _vary(label, index)

    def reply(body: Body) -> str:
        sent = [i for m in body.get("messages") or [] for i in m.get("images") or []]
        sent += body.get("images") or []
        digest = hashlib.sha256(base64.b64decode(sent[-1])).hexdigest() if sent else ""
        fmt = body.get("format")
        answer = answers.get(digest)
        if answer is None:
            answer = _placeholder(fmt, fmt.get("$defs") or {}) if isinstance(fmt, dict) else None
        return json.dumps(answer if answer is not None else {"ok": True}, ensure_ascii=False)

    return reply


def bundled_factors(images: Path = BUNDLED_IMAGES, spread: float = 3.0) -> dict[str, float]:
    """Delay factors for the bundled images, from 1 to `spread` within each scenario, in name
    order: a real server takes longer over some images (more tiles, longer replies)."""
    factors: dict[str, float] = {}
    for folder in sorted(path.parent for path in images.glob("*/labels.json")):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        for index, image in enumerate(files):
            step = index / (len(files) - 1) if len(files) > 1 else 0.0
            factors[hashlib.sha256(image.read_bytes()).hexdigest()] = 1 + (spread - 1) * step
    return factors


def standalone_config(slowdown: float, seed: int = 0) -> FakeConfig:
    delays = {key: value * slowdown for key, value in STANDALONE_DELAYS_S.items()}
    vram = 1.0 if slowdown <= 1 else 0.0  # a slow server plays the CPU one in `ollama ps`
    return FakeConfig(
        reply=bundled_reply(),
        image_factors=bundled_factors(),
        jitter=0.05,
        seed=seed,
        vram_fraction=vram,
        **delays,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_ollama",
        description="A fake Ollama 0.24.0 with llama3.2-vision that answers the bundled "
        "scenarios plausibly, to try obench without Ollama, a GPU or Docker.",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="serve one server on 127.0.0.1:PORT (default: two, on 11434 and, 8× slower, 11435)",
    )
    parser.add_argument(
        "--slowdown", type=float, default=1.0, help="multiply every delay (8: a CPU server)"
    )
    args = parser.parse_args(argv)
    plans = [(args.port, args.slowdown)] if args.port else [(11434, 1.0), (11435, 8.0)]
    servers: list[FakeOllama] = []
    try:
        for seed, (port, slowdown) in enumerate(plans):
            server = FakeOllama(standalone_config(slowdown, seed), port=port).start()
            servers.append(server)
            print(f"fake Ollama 0.24.0 on {server.url} · delays ×{slowdown:g}", flush=True)
        print("Ctrl-C stops", "them" if len(servers) > 1 else "it", flush=True)
        threading.Event().wait()
    except OSError as exc:
        print(f"error: cannot serve on port {port}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
