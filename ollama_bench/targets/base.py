"""What every kind of target offers the runner: one protocol, one result record, one failure.

A target is a model server (Ollama's API, an OpenAI-compatible API) or an in-process model; the
runner, the bench and doctor see only `Target`. `chat` never raises for a server's fault: the
failure comes back as data in `Exchange.error`, so a run goes on and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import httpx

from ollama_bench.models import (
    MAX_ERROR_CHARS,
    Placement,
    RequestError,
    RequestSettings,
    ServerTimings,
    TargetInfo,
    TargetSpec,
    TextBox,
    Timing,
)
from ollama_bench.untrusted import clip, storable

#: How long a server's probe calls, and any request's connect, may take.
PROBE_TIMEOUT_S = 10.0
#: How long to wait for the end of a stream after its final chunk.
DRAIN_S = 0.5
#: No pool cap: under load (obench load) a request waiting for a pooled connection would be
#: timed as the server's latency; keep-alive for all so none pays a new connection.
UNPOOLED = httpx.Limits(max_connections=None, max_keepalive_connections=None)


def request_timeout(settings: RequestSettings) -> httpx.Timeout:
    """A request may take --timeout in all; connecting, no longer than the probe waits."""
    return httpx.Timeout(settings.timeout_s, connect=PROBE_TIMEOUT_S)


def server_info(spec: TargetSpec) -> TargetInfo:
    """What a probe starts from: the target as given (its --header names, never their values),
    not yet reached."""
    return TargetInfo(
        name=spec.name,
        url=spec.url,
        options=spec.options,
        api=spec.api,
        images=spec.images,
        sent_headers=sorted(spec.headers),
    )


def missing_model_error(model: str, url: str) -> str:
    """The probe's error when the server answers but has no such model (`model_missing`)."""
    return f"model {model} is not on {url}"


def probe_error(url: str, exc: Exception, speaks: str) -> str:
    """Why a probe failed, in one line: it cannot connect, no answer came in time, or the answer
    is not what a server speaking this API (`speaks`: "Ollama", ...) would send."""
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {url} ({exc})"
    if isinstance(exc, ConnectionError):  # the ollama client's, whose text is install advice
        return f"cannot connect to {url}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"{url} did not answer within {PROBE_TIMEOUT_S:g} s"
    why = clip(storable(f"{type(exc).__name__}: {exc}"), MAX_ERROR_CHARS)
    return f"{url} does not answer like {speaks} ({why})"


def transport_error(exc: BaseException, timeout_s: float) -> RequestError:
    """A stable kind for each way the connection can fail, whatever the API."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return RequestError(kind="timeout", message=f"no complete reply within {timeout_s:g} s")
    if isinstance(exc, httpx.ConnectError | ConnectionError):
        return RequestError(kind="connect", message=f"cannot connect: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return RequestError(kind="truncated", message=f"stream cut short: {exc}")
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return RequestError(kind="reset", message=f"connection lost: {exc or type(exc).__name__}")
    return RequestError(kind="protocol", message=f"{type(exc).__name__}: {exc}")


class TargetFailure(Exception):
    """A pull, load or placement read failed; the message is one line naming the server."""


@dataclass
class Exchange:
    """What one request gave: the reply text (possibly partial), its timing, and any failure."""

    reply: str
    timing: Timing
    error: RequestError | None
    unanswered: tuple[str, ...] = ()  # reply fields this target does not answer by design
    text_boxes: list[TextBox] | None = field(default=None)  # an OCR target's raw reading


async def drain(stream: AsyncIterator[Any]) -> None:
    """Read what follows a stream's final chunk (normally just its end, so that the connection
    goes back to the pool and the next request pays no new connect), for at most DRAIN_S; a
    server that holds the stream open after it is cut off there. Nothing read here changes the
    result."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_S):
            async for _ in stream:
                pass
    closing = getattr(stream, "aclose", None)  # an async generator: closes the HTTP response
    if closing is not None:
        with contextlib.suppress(Exception):
            await closing()


#: The clock of the request this task is sending (see ChunkClock), for the request hook.
_SENDING: ContextVar[ChunkClock | None] = ContextVar("obench_sending", default=None)


async def _request_sent(request: httpx.Request) -> None:
    if (clock := _SENDING.get()) is not None:
        clock.sent()


#: The event hooks of every timed HTTP client: httpx runs request hooks once the request is
#: built, just before it is sent (a new connection's connect stays inside the clock).
SEND_HOOKS: dict[str, list[Callable[[httpx.Request], Awaitable[None]]]] = {
    "request": [_request_sent]
}


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """The TLS context every HTTP client here uses: httpx's default, built once per process.

    Building it loads the CA bundle (~40 ms); obench load opens a client per request in flight,
    and doing that for each would stall the event loop while other requests are being timed.
    """
    return httpx.create_ssl_context()


class ChunkClock:
    """The client's clock for one streamed request: started at send, read at each content chunk.

    Used as `with ChunkClock() as clock:` around the request, it starts when the client's
    request hook (SEND_HOOKS) sees the request go out: after the body is built (an image's base64,
    the JSON dump: ~2-3 ms per MB), as both APIs' clients build it, so that work is in no
    latency. Every streaming loop uses it the same way (`arrived()` on each chunk with non-empty
    content), so TTFT and inter-token gaps mean the same for every kind of target. The per-chunk
    cost is one `perf_counter_ns` and one list append (~0.1 µs), nothing else on the timed path.
    """

    __slots__ = ("_arrivals_ns", "_token", "started_ns")

    def __init__(self) -> None:
        self._arrivals_ns: list[int] = []
        self._token: Token[ChunkClock | None] | None = None
        self.started_ns = time.perf_counter_ns()  # until the request goes out

    def __enter__(self) -> Self:
        self._token = _SENDING.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _SENDING.reset(self._token)

    def sent(self) -> None:
        """The request is going out, its body built: the clock starts now. A request sent again
        (on a new connection, or to where a redirect points) is timed from its last send."""
        self.started_ns = time.perf_counter_ns()

    def arrived(self, at_ns: int | None = None) -> None:
        """A chunk with non-empty content was read at `at_ns` (`perf_counter_ns`), or just now:
        a loop that must parse a chunk to know whether it has content stamps it first."""
        self._arrivals_ns.append(time.perf_counter_ns() if at_ns is None else at_ns)

    def elapsed_ns(self) -> int:
        return time.perf_counter_ns() - self.started_ns

    @property
    def ttft_ns(self) -> int | None:
        """Send → first chunk with content; None when none came."""
        return self._arrivals_ns[0] - self.started_ns if self._arrivals_ns else None

    def chunk_gaps_us(self) -> list[int]:
        """Arrival times, delta-encoded in whole microseconds: [send → chunk 1, 1 → 2, 2 → 3, …].

        Offsets are floored to µs before differencing, so a running sum gives back each arrival
        to the microsecond (no drift), and a 1,000-chunk reply costs a few kB in a run file.

        >>> clock = ChunkClock()
        >>> clock.started_ns, clock._arrivals_ns = 0, [1_500_900, 1_600_100, 2_600_000]
        >>> clock.chunk_gaps_us()
        [1500, 100, 1000]
        """
        offsets = [(t - self.started_ns) // 1000 for t in self._arrivals_ns]
        return [b - a for a, b in zip([0, *offsets], offsets, strict=False)]

    def timing(self, latency_ns: int, server: ServerTimings | None) -> Timing:
        """The request's timing: `latency_ns` as read at its end, this clock's TTFT and gaps,
        and what the server reported (None when it reported nothing usable)."""
        return Timing(
            latency_ns=latency_ns,
            ttft_ns=self.ttft_ns,
            server=server,
            chunk_gaps_us=self.chunk_gaps_us(),
        )


class Target(Protocol):
    """One server (or in-process model) plus the request settings of this run."""

    spec: TargetSpec
    settings: RequestSettings

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def probe(self) -> TargetInfo:
        """Reachable? Which version? Is the model there? Never raises for a server's fault."""
        ...

    async def placement(self) -> Placement | None:
        """Where the model sits now; None when this server cannot tell (no route says it);
        raises TargetFailure when it can but the reading failed."""
        ...

    async def chat(
        self, prompt: str, image: bytes | None, schema: dict[str, Any] | None
    ) -> Exchange:
        """One timed request with one image (None: the prompt alone, for `images=false`);
        failures are returned in `Exchange.error`."""
        ...

    def companion(self) -> Target:
        """A client of the same target for a request in flight beside this one's (obench
        load): its own connection, and whatever this one's probe found out. May be `self`
        where a second client would not help (an in-process model)."""
        ...
