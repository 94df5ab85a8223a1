"""Shared fixtures: `fake_ollama` and `fake_openai` start protocol-faithful test servers. Shared
helpers: `samples_of` reads a run file's samples, `nvidia_smi` makes a stand-in nvidia-smi."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_ollama import FakeConfig, FakeOllama
from fake_openai import FakeOpenAI, FakeOpenAIConfig

from ollama_bench.ops import utilisation

NVIDIA_OUTPUT = "0, 87, 20480, 24564, 312.45\n"  # GPU 0: 87% busy, 20 of 24 GiB, 312.45 W


def samples_of(path: Path, target: str | None = None) -> list[dict[str, Any]]:
    """The sample lines of a run file, or those of one target."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in lines if r["kind"] == "sample" and (target is None or r["target"] == target)]


def nvidia_smi(
    folder: Path, output: str = NVIDIA_OUTPUT, busy: tuple[Path, str] | None = None
) -> Path:
    """A stand-in nvidia-smi in `folder` (to put on PATH) that checks it got obench's query and
    prints `output`; with `busy` (a file, another output), that output while the file exists."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    expected = " ".join(utilisation.NVIDIA_QUERY[1:])
    flag, busy_output = (str(busy[0]), busy[1]) if busy else ("", output)
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"if ' '.join(sys.argv[1:]) != {expected!r}:\n"
        "    sys.exit('unexpected arguments')\n"
        f"busy = {flag!r} and os.path.exists({flag!r})\n"
        f"sys.stdout.write({busy_output!r} if busy else {output!r})\n"
    )
    script.chmod(0o755)
    return folder


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
