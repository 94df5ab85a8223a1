"""The only module that speaks the OpenAI-compatible API (`/v1`): llama-server, vLLM, LM Studio,
SGLang, Ollama's `/v1`.

It uses httpx with httpx-sse rather than the `openai` package: the SDK retries failed requests by
itself (twice by default, which would hide failures and add their time to a sample) and hands
back typed objects, while obench needs the raw stream: the moment each `data:` event arrives
(TTFT), llama.cpp's non-standard `timings`, and the server's error text as it was sent. httpx is
already what the Ollama side uses; httpx-sse parses the event stream as the SSE spec says. The
one request sent again is one the server never read (`OpenAITarget._send`).

What a server reports differs (../README "OpenAI-compatible servers"): token counts come from
`usage`, durations only from llama.cpp's `timings`; a figure the server does not send stays None.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import PIL.Image
from httpx_sse import EventSource, ServerSentEvent, SSEError

from ollama_bench.models import (
    MAX_ERROR_CHARS,
    Placement,
    RequestError,
    RequestSettings,
    ResponseFormat,
    ServerTimings,
    TargetInfo,
    TargetSpec,
)
from ollama_bench.targets.auth import request_headers
from ollama_bench.targets.base import (
    PROBE_TIMEOUT_S,
    SEND_HOOKS,
    UNPOOLED,
    ChunkClock,
    Exchange,
    drain,
    missing_model_error,
    probe_error,
    request_timeout,
    server_info,
    shared_tls_context,
    transport_error,
)
from ollama_bench.targets.ollama import canonical_model
from ollama_bench.untrusted import clip, storable

#: The probe's one-token structured request: a busy CPU server may take a while to start it.
FORMAT_PROBE_TIMEOUT_S = 60.0
#: Statuses with which a server refuses a request body it does not understand.
REJECTED = frozenset({400, 415, 422, 500, 501})
LLAMA_CPP = "llama.cpp"
#: The API key variable OpenAI's own clients read; sent as `Authorization: Bearer` when set
#: (and no --header or URL credentials say otherwise), see targets/auth.py.
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
#: Counts and durations from a server beyond a signed 64-bit integer are not believed.
INT64 = 2**63
NO_VISION_HINT = "start llama-server with --mmproj, or add images=false to the target"


def response_format(form: ResponseFormat, schema: dict[str, Any]) -> dict[str, Any]:
    """The request's `response_format` in either form a server may accept.

    >>> response_format("json_object", {"type": "object"})
    {'type': 'json_object', 'schema': {'type': 'object'}}
    """
    if form == "json_object":
        return {"type": "json_object", "schema": schema}
    named = {"name": "reply", "schema": schema, "strict": True}
    return {"type": "json_schema", "json_schema": named}


def image_part(image: bytes) -> dict[str, Any]:
    """An image content part with a data URL, typed from the image's own header."""
    with PIL.Image.open(io.BytesIO(image)) as opened:
        mime = PIL.Image.MIME.get(opened.format or "", "image/jpeg")
    encoded = base64.b64encode(image).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{encoded}"}}


def error_message(response: httpx.Response) -> str:
    """The server's own words from an error response (see `error_text`)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip() or response.reason_phrase
        return clip(storable(text), MAX_ERROR_CHARS)
    return error_text(body)


def error_text(body: Any) -> str:
    """OpenAI's `{"error": {"message"}}`, vLLM's older `{"message"}`, a plain string, or the
    start of whatever else the server sent.

    >>> error_text({"error": {"code": 500, "message": "boom", "type": "server_error"}})
    'boom'
    """
    text = json.dumps(body)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = str(error["message"])
        elif isinstance(error, str):
            text = error
    return clip(storable(text), MAX_ERROR_CHARS)


def server_timings(
    usage: dict[str, Any] | None, timings: dict[str, Any] | None, finish_reason: str | None
) -> ServerTimings:
    """`usage` and llama.cpp's `timings` as the fields Ollama reports.

    The prompt count is the tokens the server evaluated (cached ones left out, as llama.cpp's
    `prompt_n`), so that the prompt rate is prompt_n / prompt_ms. No OpenAI-compatible server
    reports a total or a load duration: they stay None.

    >>> usage = {"prompt_tokens": 30, "completion_tokens": 9}
    >>> timings = {"prompt_n": 30, "prompt_ms": 15.0, "predicted_n": 9, "predicted_ms": 90.0}
    >>> t = server_timings(usage, timings, "stop")
    >>> t.prompt_eval_count, t.prompt_eval_duration_ns, t.eval_count, t.eval_duration_ns
    (30, 15000000, 9, 90000000)
    >>> t.total_duration_ns is None and t.load_duration_ns is None
    True
    """
    usage, timings = usage or {}, timings or {}
    prompt_count = _count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    if prompt_count is not None and cached:
        prompt_count -= cached
    if prompt_count is None:
        prompt_count = _count(timings.get("prompt_n"))
    eval_count = _count(usage.get("completion_tokens"))
    if eval_count is None:
        eval_count = _count(timings.get("predicted_n"))
    return ServerTimings(
        prompt_eval_count=prompt_count,
        prompt_eval_duration_ns=_ms_to_ns(timings.get("prompt_ms")),
        eval_count=eval_count,
        eval_duration_ns=_ms_to_ns(timings.get("predicted_ms")),
        done_reason=finish_reason,
    )


def _count(value: Any) -> int | None:
    """An integer a 64-bit server could send, else None (a bigger one breaks every rate)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < INT64:
        return value
    return None


def _ms_to_ns(value: Any) -> int | None:
    """Milliseconds as whole nanoseconds; None for anything but a finite number ≥ 0.

    >>> _ms_to_ns(1.5), _ms_to_ns(float("inf")), _ms_to_ns(-1), _ms_to_ns("2"), _ms_to_ns(10**400)
    (1500000, None, None, None, None)
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < INT64:
        return round(value * 1_000_000)
    return None


class OpenAITarget:
    """One OpenAI-compatible server plus this run's settings; use as an async context manager."""

    def __init__(self, spec: TargetSpec, settings: RequestSettings) -> None:
        self.spec = spec
        self.settings = settings
        self.server: str | None = None  # "llama.cpp" once /props has answered
        self.form: ResponseFormat = "json_schema"  # the probe falls back to json_object once
        headers = request_headers(spec, OPENAI_API_KEY_ENV)  # every call, the probe's too
        self._http = httpx.AsyncClient(
            base_url=spec.endpoint,
            timeout=request_timeout(settings),
            headers=headers,
            limits=UNPOOLED,
            verify=shared_tls_context(),
            event_hooks=SEND_HOOKS,
        )

    async def __aenter__(self) -> OpenAITarget:
        return self

    def companion(self) -> OpenAITarget:
        """Another client of this server that knows what the probe found: the server's kind
        (llama.cpp's `cache_prompt`) and the response_format it accepts."""
        other = OpenAITarget(self.spec, self.settings)
        other.server, other.form = self.server, self.form
        return other

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def probe(self) -> TargetInfo:
        """`/v1/models` (model present), llama.cpp's `/props` (build, context, vision) where it
        answers, and which `response_format` form the server accepts. Never raises."""
        spec, model = self.spec, self.settings.model
        info = server_info(spec)
        try:
            response = await self._http.get("/v1/models", timeout=PROBE_TIMEOUT_S)
            if response.status_code != 200:
                info.error = (
                    f"{spec.url} does not answer like an OpenAI-compatible server "
                    f"(GET /v1/models: HTTP {response.status_code} {error_message(response)})"
                )
                return info
            listed = response.json().get("data", [])
            ids = [clip(storable(str(m.get("id"))), 200) for m in listed if isinstance(m, dict)]
            info.reachable = True
            await self._identify(info)
            if not any(i == model or canonical_model(i) == canonical_model(model) for i in ids):
                info.error, info.model_missing = missing_model_error(model, spec.url), True
                served = ", ".join(ids) or "nothing"
                info.warnings.append(f"this server serves {served}: pass --model with one of them")
                return info
            info.model_present = True
            if spec.images and "vision" not in info.capabilities and self.server == LLAMA_CPP:
                info.error = f"{spec.url} takes no image input (its /props says no vision)"
                info.warnings.append(NO_VISION_HINT)
                return info
            if self.settings.structured:
                await self._choose_format(info)
        except Exception as exc:  # whatever a hostile answer breaks: the target is unusable
            info.error = probe_error(spec.url, exc, "an OpenAI-compatible server")
        return info

    async def _identify(self, info: TargetInfo) -> None:
        """Which server this is, from the routes only it has: llama.cpp's `/props`, vLLM's
        `/version`, Ollama's `/api/version`. Unknown (None) is fine: it changes nothing sent."""
        props = await self._get_json("/props")
        if isinstance(props, dict) and isinstance(props.get("build_info"), str):
            self.server = info.server = LLAMA_CPP
            info.version = clip(storable(props["build_info"]), 200)
            settings = props.get("default_generation_settings")
            n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
            info.context_length = n_ctx if isinstance(n_ctx, int) else None
            modalities = props.get("modalities")
            vision = isinstance(modalities, dict) and modalities.get("vision") is True
            info.capabilities = ["completion", "vision"] if vision else ["completion"]
            return
        for path, server in (("/api/version", "Ollama"), ("/version", "vLLM")):
            found = await self._get_json(path)
            if isinstance(found, dict) and isinstance(found.get("version"), str):
                self.server = info.server = server
                info.version = clip(storable(found["version"]), 200)
                return

    async def _get_json(self, path: str) -> Any:
        try:
            response = await self._http.get(path, timeout=PROBE_TIMEOUT_S)
            return response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    async def _choose_format(self, info: TargetInfo) -> None:
        """Send one one-token structured request; when the server refuses the json_schema form,
        try json_object once and keep whichever it accepted (recorded in the run's header).
        When the check itself fails (timeout, 503...), json_schema is sent and the form stays
        unrecorded (None), with a warning."""
        refused, why = await self._try_format("json_schema")
        if refused is False:
            info.response_format = self.form = "json_schema"
            return
        if refused and (await self._try_format("json_object"))[0] is False:
            info.response_format = self.form = "json_object"
            info.warnings.append(f"json_schema refused ({why}): sending json_object instead")
            return
        info.warnings.append(
            f"could not check which response_format {self.spec.url} accepts ({why}); "
            "json_schema will be sent"
        )

    async def _try_format(self, form: ResponseFormat) -> tuple[bool | None, str]:
        """(False, "") when the server took this form, (True, why) when it refused the request
        body, (None, why) when the check failed for another reason."""
        body = {
            "model": self.settings.model,
            "messages": [{"role": "user", "content": "Reply with an empty JSON object."}],
            "max_tokens": 1,
            "temperature": 0,
            "response_format": response_format(form, {"type": "object"}),
        }
        try:
            response = await self._http.post(
                "/v1/chat/completions", json=body, timeout=FORMAT_PROBE_TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if response.is_success:
            return False, ""
        why = f"HTTP {response.status_code} {error_message(response)}"
        return (True if response.status_code in REJECTED else None), why

    async def placement(self) -> Placement | None:
        """None: no OpenAI-compatible route says whether the model sits on a GPU or the CPU."""
        return None

    def _body(self, prompt: str, image: bytes | None, schema: dict[str, Any] | None) -> Any:
        content: Any = prompt
        if image is not None:
            content = [{"type": "text", "text": prompt}, image_part(image)]
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [{"role": "user", "content": content}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.settings.temperature,
            "seed": self.settings.seed,
            "max_tokens": self.settings.num_predict,
        }
        if schema is not None:
            body["response_format"] = response_format(self.form, schema)
        if self.server == LLAMA_CPP:
            body["cache_prompt"] = False  # measure prompt evaluation, not a prompt-cache hit
        return body | self.spec.options

    async def _send(self, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        """POST the chat completion; the response is streamed (the caller closes it).

        A request sent on a kept-alive connection that the server had closed meanwhile is sent
        once more, on a new connection: llama-server closes its end a moment after each stream
        (though it announces keep-alive), and a request that goes out before that close arrives
        is never read. The clock starts again with it. A new connection's failure is not retried.
        """
        connects: list[str] = []

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith("connect_tcp.started"):
                connects.append(event)

        request = self._http.build_request(
            "POST", "/v1/chat/completions", json=body, headers=headers, extensions={"trace": trace}
        )
        try:
            return await self._http.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            if connects:
                raise
        return await self._http.send(request, stream=True)

    async def chat(
        self, prompt: str, image: bytes | None, schema: dict[str, Any] | None
    ) -> Exchange:
        """One streamed chat completion, timed by the client (and by llama.cpp where it is)."""
        parts: list[str] = []
        chunks: list[dict[str, Any]] = []
        error: RequestError | None = None
        body = self._body(prompt, image, schema)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        latency_ns: int | None = None
        with ChunkClock() as clock:  # started by the request hook as the request goes out
            try:
                async with (
                    asyncio.timeout(self.settings.timeout_s) as deadline,
                    contextlib.aclosing(await self._send(body, headers)) as response,
                ):
                    if response.status_code != 200:
                        await response.aread()
                        message = error_message(response)
                        error = RequestError(kind=f"http_{response.status_code}", message=message)
                    else:
                        events = EventSource(response).aiter_sse()
                        error = await _read_events(events, clock, parts, chunks)
                        latency_ns = clock.elapsed_ns()  # at [DONE], before the drain
                        deadline.reschedule(None)  # the drain has its own bound
                        await drain(events)
            except Exception as exc:  # every failure becomes data; Ctrl-C propagates
                error = _classify(exc, self.settings.timeout_s)
        if latency_ns is None:
            latency_ns = clock.elapsed_ns()
        finish, usage, timings = _ending(chunks)
        if error is None and finish is None:
            error = RequestError(kind="truncated", message="stream ended without a finish_reason")
        server = server_timings(usage, timings, finish) if finish is not None else None
        timing = clock.timing(latency_ns, server)
        return Exchange(reply="".join(parts), timing=timing, error=error)


async def _read_events(
    events: AsyncIterator[ServerSentEvent],
    clock: ChunkClock,
    parts: list[str],
    chunks: list[dict[str, Any]],
) -> RequestError | None:
    """Read the stream up to [DONE] (or an error event, returned): each chunk's arrival stamped
    before it is parsed, its text to `parts`, the chunk to `chunks`. Raises ValueError for a
    chunk that is not a JSON object."""
    async for event in events:
        read_ns = time.perf_counter_ns()
        if event.data == "[DONE]":
            break
        chunk = json.loads(event.data)
        if not isinstance(chunk, dict):
            raise ValueError(f"a stream chunk is not an object: {clip(event.data, 200)!r}")
        if "error" in chunk:
            return RequestError(kind="stream_error", message=error_text(chunk))
        texts = _texts(chunk)
        chunks.append(chunk)
        if texts:  # one arrival per chunk, however its text is split
            clock.arrived(read_ns)
            parts += texts
    return None


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    choices = chunk.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _texts(chunk: dict[str, Any]) -> list[str]:
    """The chunk's non-empty content strings; a delta or content of another type is no text."""
    deltas = [choice.get("delta") for choice in _choices(chunk)]
    contents = [delta.get("content") for delta in deltas if isinstance(delta, dict)]
    return [content for content in contents if isinstance(content, str) and content]


def _ending(
    chunks: list[dict[str, Any]],
) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
    """The stream's finish_reason, `usage` and llama.cpp's `timings`: the last of each sent.

    Read once the stream is over, so that none of it is on the timed path. A piece of the wrong
    type (a number for finish_reason, a list for usage) is left out, as if it had not been sent.
    """
    finish: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    for chunk in chunks:
        for choice in _choices(chunk):
            if isinstance(reason := choice.get("finish_reason"), str) and reason:
                finish = clip(reason, 200)
        if isinstance(sent := chunk.get("usage"), dict) and sent:
            usage = sent
        if isinstance(sent := chunk.get("timings"), dict) and sent:
            timings = sent
    return finish, usage, timings


def _classify(exc: BaseException, timeout_s: float) -> RequestError:
    if isinstance(exc, SSEError):  # a 200 that is not an event stream
        return RequestError(kind="protocol", message=str(exc))
    if isinstance(exc, ValueError | AttributeError):
        return RequestError(kind="protocol", message=f"malformed stream chunk: {exc}")
    return transport_error(exc, timeout_s)
