"""Shared fixtures: `fake_ollama` starts protocol-faithful fake Ollama servers for a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_ollama import FakeConfig, FakeOllama


@pytest.fixture
def fake_ollama() -> Iterator[Callable[..., FakeOllama]]:
    """A factory `make(**FakeConfig fields) -> FakeOllama` (started); all are stopped after."""
    servers: list[FakeOllama] = []

    def make(**config: Any) -> FakeOllama:
        server = FakeOllama(FakeConfig(**config)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
