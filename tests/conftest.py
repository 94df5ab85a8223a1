"""Shared fixtures: `fake_ollama` and `fake_openai` start protocol-faithful test servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_ollama import FakeConfig, FakeOllama
from fake_openai import FakeOpenAI, FakeOpenAIConfig


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


@pytest.fixture
def fake_openai() -> Iterator[Callable[..., FakeOpenAI]]:
    """A factory `make(**FakeOpenAIConfig fields) -> FakeOpenAI` (started); all stopped after."""
    servers: list[FakeOpenAI] = []

    def make(**config: Any) -> FakeOpenAI:
        server = FakeOpenAI(FakeOpenAIConfig(**config)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _no_host_monitoring(monitor_default: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's Docker engine or GPU out of runs that count run-file lines."""
    monkeypatch.setenv("OBENCH_MONITOR", monitor_default)


@pytest.fixture
def monitor_default() -> str:
    """Overridden by the tests that exercise utilisation sampling."""
    return "0"
