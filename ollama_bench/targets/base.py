"""What every kind of target offers the runner: one protocol, one result record, one failure.

A target is a model server (Ollama's API, an OpenAI-compatible API) or an in-process model; the
runner, the bench and doctor see only `Target`. `chat` never raises for a server's fault: the
failure comes back as data in `Exchange.error`, so a run goes on and loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from ollama_bench.models import (
    Placement,
    RequestError,
    RequestSettings,
    TargetInfo,
    TargetSpec,
    TextBox,
    Timing,
)


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

    async def chat(self, prompt: str, image: bytes, schema: dict[str, Any] | None) -> Exchange:
        """One timed request with one image; failures are returned in `Exchange.error`."""
        ...
