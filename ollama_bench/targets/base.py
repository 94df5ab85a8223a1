"""What every kind of target offers the runner: one protocol, one result record, one failure.

A target is a model server (Ollama's API, an OpenAI-compatible API) or an in-process model; the
runner, the bench and doctor see only `Target`. `chat` never raises for a server's fault: the
failure comes back as data in `Exchange.error`, so a run goes on and loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import httpx

from ollama_bench.models import (
    Placement,
    RequestError,
    RequestSettings,
    TargetInfo,
    TargetSpec,
    TextBox,
    Timing,
)
from ollama_bench.untrusted import clip, storable

#: A server's error text is kept up to this length: a megabyte of it per sample helps no one.
MAX_ERROR_CHARS = 2000


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
    message = clip(storable(f"{type(exc).__name__}: {exc}"), MAX_ERROR_CHARS)
    return RequestError(kind="protocol", message=message)


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


class Target(Protocol):
    """One server (or in-process model) plus the request settings of this run."""

    spec: TargetSpec
    settings: RequestSettings

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def probe(self) -> TargetInfo:
        """Reachable? Which version? Is the model there? Never raises for a server's fault."""
        ...

    async def placement(self) -> Placement:
        """Where the model sits now; raises TargetFailure when that cannot be read."""
        ...

    async def chat(
        self, prompt: str, image: bytes | None, schema: dict[str, Any] | None
    ) -> Exchange:
        """One timed request with one image (None: the prompt alone, for `images=false`);
        failures are returned in `Exchange.error`."""
        ...
