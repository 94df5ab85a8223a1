"""The only module that speaks to Ollama: the probe, timed chats, pulls, placement.

Requests go through the official `ollama` AsyncClient (streaming); `/api/version`, which that
client lacks, through httpx. Failures never raise out of `chat`: they come back as a typed
`RequestError` beside whatever was received, so a run goes on and loses nothing. `pull`,
`placement` and `load` raise `TargetFailure`, one line naming the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from ollama_bench.models import (
    MAX_ERROR_CHARS,
    Placement,
    RequestError,
    RequestSettings,
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
    TargetFailure,
    drain,
    missing_model_error,
    probe_error,
    request_timeout,
    server_info,
    shared_tls_context,
    transport_error,
)
from ollama_bench.untrusted import clip, storable

#: Ollama releases whose engine has the mllama (llama3.2-vision) implementation. 0.30 replaced
#: the Go engine with llama-server, which answers HTTP 500 "unknown model architecture: 'mllama'".
MLLAMA_VERSIONS = ((0, 4, 0), (0, 30, 0))  # [first supported, first broken)


def canonical_model(name: str) -> str:
    """Name as `/api/tags` lists it: lower case, registry and `library/` dropped, tag explicit.

    >>> canonical_model("registry.ollama.ai/library/Llama3.2-Vision")
    'llama3.2-vision:latest'
    """
    text = name.strip().lower()
    for prefix in ("registry.ollama.ai/", "library/"):
        text = text.removeprefix(prefix)
    return text if ":" in text.rsplit("/", 1)[-1] else f"{text}:latest"


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def needs_mllama(model: str, family: str | None = None) -> bool:
    """Is this llama3.2-vision, by name or by the architecture `/api/tags` reports?"""
    return family == "mllama" or "llama3.2-vision" in model.lower()


def mllama_version_warning(version: str) -> str | None:
    """Why this Ollama release cannot run llama3.2-vision, or None when it can (or is unknown)."""
    parsed = parse_version(version)
    if parsed is None or parsed == (0, 0, 0):  # a source build reports 0.0.0
        return None
    first, broken = MLLAMA_VERSIONS
    if parsed < first:
        return f"Ollama {version} predates llama3.2-vision support (needs 0.4.0 or later)"
    if parsed >= broken:
        return (
            f"Ollama {version} cannot run llama3.2-vision: 0.30 and later answer HTTP 500 "
            "\"unknown model architecture: 'mllama'\"; run ollama/ollama:0.24.0"
        )
    return None


@dataclass(frozen=True)
class PullProgress:
    """One line of `/api/pull`'s streamed progress (reference §2.5); byte counts per layer."""

    status: str
    digest: str | None = None
    total_bytes: int | None = None
    completed_bytes: int | None = None


def describe_failure(exc: BaseException, url: str, doing: str) -> str:
    """One line for a failed pull/load/ps: what was being done, where, and the server's words."""
    if isinstance(exc, ollama.ResponseError):
        status = "" if exc.status_code < 0 else f" (HTTP {exc.status_code})"
        return f"{doing} on {url} failed{status}: {exc.error}"
    if isinstance(exc, httpx.ConnectError | ConnectionError):
        return f"cannot connect to {url} ({doing})"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"{url} stopped answering while {doing}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return f"connection to {url} lost while {doing}: {exc or type(exc).__name__}"
    return f"{doing} on {url} failed: {type(exc).__name__}: {exc}"


def classify_error(exc: BaseException, timeout_s: float) -> RequestError:
    """A stable kind for each way a request can fail, with the server's or library's words."""
    if isinstance(exc, ollama.ResponseError):
        kind = f"http_{exc.status_code}" if exc.status_code >= 0 else "stream_error"
        return RequestError(kind=kind, message=exc.error)
    return transport_error(exc, timeout_s)


class OllamaTarget:
    """One Ollama server plus the options this run sends it; use as an async context manager."""

    def __init__(self, spec: TargetSpec, settings: RequestSettings) -> None:
        self.spec = spec
        self.settings = settings
        headers = request_headers(spec)  # the same on every call, the /api/version probe too
        tls = shared_tls_context()
        self._client = ollama.AsyncClient(
            host=spec.endpoint,
            timeout=request_timeout(settings),
            headers=headers,
            limits=UNPOOLED,
            verify=tls,
            event_hooks=SEND_HOOKS,
        )
        self._http = httpx.AsyncClient(
            base_url=spec.endpoint, timeout=PROBE_TIMEOUT_S, headers=headers, verify=tls
        )
        self.options: dict[str, Any] = {
            "temperature": settings.temperature,
            "seed": settings.seed,
            "num_ctx": settings.num_ctx,
            "num_predict": settings.num_predict,
            **spec.options,
        }

    async def __aenter__(self) -> OllamaTarget:
        return self

    def companion(self) -> OllamaTarget:
        """Another client of this server (the probe leaves nothing to carry over)."""
        return OllamaTarget(self.spec, self.settings)

    async def __aexit__(self, *exc: object) -> None:
        await self._client._client.aclose()  # AsyncClient.close() is untyped
        await self._http.aclose()

    async def probe(self) -> TargetInfo:
        """Reachable? Which version? Is the model there? Never raises for a server's fault."""
        info = server_info(self.spec)
        model = self.settings.model
        try:
            response = await self._http.get("/api/version")
            response.raise_for_status()
            info.version = clip(storable(str(response.json()["version"])), MAX_ERROR_CHARS)
            info.reachable = True
            listed = await self._client.list()
            wanted = canonical_model(model)
            entry = next(
                (m for m in listed.models if canonical_model(m.model or "") == wanted), None
            )
            if entry is None:
                info.error, info.model_missing = missing_model_error(model, self.spec.url), True
                info.warnings.append(f"pull it: OLLAMA_HOST={self.spec.url} ollama pull {model}")
                return info
            info.model_present = True
            info.model_digest = entry.digest
            info.model_size_bytes = int(entry.size) if entry.size is not None else None
            if entry.details is not None:
                info.model_family = entry.details.family
                info.quantization = entry.details.quantization_level
                info.parameter_size = entry.details.parameter_size
            shown = await self._client.show(model)
            info.capabilities = list(shown.capabilities or [])
            with contextlib.suppress(TargetFailure):  # placement is a record, not a requirement
                info.placement = await self.placement()
        except (httpx.ConnectError, httpx.TimeoutException, TimeoutError, ConnectionError) as exc:
            info.error = probe_error(self.spec.url, exc, "Ollama")
        except (ollama.ResponseError, httpx.RequestError) as exc:  # the server's or httpx's words
            info.error = f"{self.spec.url}: {clip(storable(str(exc)), MAX_ERROR_CHARS)}"
        except Exception as exc:  # whatever a hostile answer breaks: the target is unusable
            info.error = probe_error(self.spec.url, exc, "Ollama")
        if (
            info.version
            and (why := mllama_version_warning(info.version))
            and needs_mllama(model, info.model_family)
        ):
            info.warnings.append(why)
        if info.capabilities and "vision" not in info.capabilities:
            info.warnings.append(
                f"model {model} does not list the vision capability: images may be ignored"
            )
        return info

    async def placement(self) -> Placement:
        """Where the model is loaded now, from `/api/ps`; `loaded=False` when it is not."""
        try:
            running = await self._client.ps()
        except Exception as exc:
            raise TargetFailure(describe_failure(exc, self.spec.url, "reading /api/ps")) from exc
        wanted = canonical_model(self.settings.model)
        for entry in running.models:
            if canonical_model(entry.model or entry.name or "") == wanted:
                return Placement.of(
                    int(entry.size or 0), int(entry.size_vram or 0), entry.context_length
                )
        return Placement(loaded=False)

    async def load(self) -> None:
        """Load the model with this run's options, as the warm-up would (a chat with no messages).

        The same runner options as the run (num_ctx, target options such as num_gpu) mean the
        run's first request finds it resident instead of reloading it elsewhere.
        """
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                await self._client.chat(
                    model=self.settings.model,
                    messages=[],
                    options=self.options,
                    keep_alive=self.settings.keep_alive,
                )
        except Exception as exc:
            what = f"loading {self.settings.model}"
            raise TargetFailure(describe_failure(exc, self.spec.url, what)) from exc

    async def pull(self) -> AsyncIterator[PullProgress]:
        """`/api/pull` with streamed progress; raises TargetFailure unless it ends in success."""
        doing = f"pulling {self.settings.model}"
        succeeded = False
        try:
            stream = await self._client.pull(self.settings.model, stream=True)
            async for line in stream:
                status = line.status or ""
                succeeded = status == "success"
                yield PullProgress(status, line.digest, line.total, line.completed)
        except Exception as exc:
            raise TargetFailure(describe_failure(exc, self.spec.url, doing)) from exc
        if not succeeded:
            raise TargetFailure(f"{doing} on {self.spec.url}: the stream ended before success")

    async def chat(
        self, prompt: str, image: bytes | None, schema: dict[str, Any] | None
    ) -> Exchange:
        """One streamed chat request with one image (or none), timed by client and server."""
        parts: list[str] = []
        final: ollama.ChatResponse | None = None
        error: RequestError | None = None
        stream: AsyncIterator[ollama.ChatResponse] | None = None
        message: dict[str, Any] = {"role": "user", "content": prompt}
        if image is not None:
            message["images"] = [image]
        with ChunkClock() as clock:  # started by the request hook as the request goes out
            try:
                async with asyncio.timeout(self.settings.timeout_s):
                    stream = await self._client.chat(
                        model=self.settings.model,
                        messages=[message],
                        stream=True,
                        format=schema,
                        options=self.options,
                        keep_alive=self.settings.keep_alive,
                    )
                    async for chunk in stream:
                        if content := chunk.message.content:
                            clock.arrived()
                            parts.append(content)
                        # reply and timings are complete, whatever the server does next
                        if chunk.done:
                            final = chunk
                            break
            except Exception as exc:  # every failure becomes data; Ctrl-C still propagates
                error = classify_error(exc, self.settings.timeout_s)
        latency_ns = clock.elapsed_ns()
        if stream is not None:
            await drain(stream)
        if error is None and final is None:
            error = RequestError(
                kind="truncated", message="stream ended without a final done chunk"
            )
        server = _server_timings(final) if final is not None else None
        timing = clock.timing(latency_ns, server)
        return Exchange(reply=storable("".join(parts)), timing=timing, error=error)


def _server_timings(final: ollama.ChatResponse) -> ServerTimings:
    return ServerTimings(
        total_duration_ns=final.total_duration,
        load_duration_ns=final.load_duration,
        prompt_eval_count=final.prompt_eval_count,
        prompt_eval_duration_ns=final.prompt_eval_duration,
        eval_count=final.eval_count,
        eval_duration_ns=final.eval_duration,
        done_reason=final.done_reason,
    )
