"""Utilisation while a benchmark runs: each target's container (CPU %, memory) and the GPUs.

A target's container is found on the local Docker engine (`docker.from_env()`, which honours
DOCKER_HOST) by the port in its URL: a published port, or OLLAMA_HOST in a host-network
container. Each container is read once a second in a background thread (one-shot stats, CPU %
between consecutive readings as `docker stats` computes it); NVIDIA GPUs (use, memory, power)
through `nvidia-smi`; the CPU package energy counters (RAPL) for ops/energy.py.
The Docker SDK is the optional `docker` extra: without it, an engine or a container,
`Monitor.plan` says why once and the run goes on.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, cast
from urllib.parse import urlsplit

from ollama_bench.models import (
    GpuReading,
    Monitoring,
    RaplReading,
    TargetSpec,
    UtilisationSample,
)
from ollama_bench.ops import energy

INTERVAL_S = 1.0
DOCKER_TIMEOUT_S = 5
NVIDIA_TIMEOUT_S = 5.0
NVIDIA_QUERY = (
    "nvidia-smi",
    "--query-gpu=index,utilization.gpu,memory.used,memory.total,power.draw",
    "--format=csv,noheader,nounits",
)
MIB = 2**20
INSTALL_HINT = "pip install 'ollama-bench[docker]'"

Stats = Mapping[str, Any]
Sink = Callable[[UtilisationSample], None]


# -- docker stats arithmetic (pure) ------------------------------------------------------------


def cpu_pct(current: Stats, previous: Stats | None) -> float | None:
    """CPU % between two `cpu_stats` readings exactly as `docker stats` computes it
    (docker/cli stats_helpers.go, calculateCPUPercentUnix): Δ container `total_usage` /
    Δ `system_cpu_usage` × online CPUs × 100, so 100 is one core busy. None without a
    usable earlier reading; 0.0 when either delta is not positive, as the CLI shows it.

    >>> cpu_pct({"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 8_000, "online_cpus": 4},
    ...         {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 4_000})
    200.0
    """
    if not previous or not previous.get("system_cpu_usage"):
        return None
    try:
        cpu_delta = current["cpu_usage"]["total_usage"] - previous["cpu_usage"]["total_usage"]
        system_delta = current["system_cpu_usage"] - previous["system_cpu_usage"]
    except (KeyError, TypeError):
        return None
    online = current.get("online_cpus") or len(current["cpu_usage"].get("percpu_usage") or [])
    if system_delta > 0 and cpu_delta > 0:
        return float(cpu_delta / system_delta * online * 100)
    return 0.0


def memory_bytes(memory_stats: Stats) -> int | None:
    """Memory use as `docker stats` shows it (calculateMemUsageUnixNoCache): usage less
    `total_inactive_file` on cgroup v1, less `inactive_file` on cgroup v2. (Docker 19.03 and
    older subtracted `cache` instead; current CLIs do not.)"""
    usage = memory_stats.get("usage")
    if not isinstance(usage, int):
        return None
    stats = memory_stats.get("stats") or {}
    v1 = stats.get("total_inactive_file")
    if isinstance(v1, int) and v1 < usage:
        return usage - v1
    v2 = stats.get("inactive_file", 0)
    return usage - v2 if isinstance(v2, int) and v2 < usage else usage


def reading(raw: Stats, previous_cpu: Stats | None) -> tuple[float | None, int | None, int | None]:
    """(CPU %, memory bytes, memory limit bytes) of one stats response. CPU % compares with the
    engine's own `precpu_stats` when it has them (stream=0 without one-shot), else with the
    previous response's `cpu_stats`, as the CLI does between two streamed readings."""
    precpu = raw.get("precpu_stats") or {}
    base = precpu if precpu.get("system_cpu_usage") else previous_cpu
    memory = raw.get("memory_stats") or {}
    limit = memory.get("limit")
    return (
        cpu_pct(raw.get("cpu_stats") or {}, base),
        memory_bytes(memory),
        limit if isinstance(limit, int) else None,
    )


# -- which container serves a target (pure over Engine API bodies) ----------------------------


def ollama_host_port(env: Sequence[str]) -> int | None:
    """The port an Ollama server binds to, from its OLLAMA_HOST, as Ollama's envconfig reads it;
    None when the variable is absent (the container is then not known to run Ollama).

    >>> ollama_host_port(["OLLAMA_HOST=0.0.0.0:11435"]), ollama_host_port(["OLLAMA_HOST=box"])
    (11435, 11434)
    """
    for item in env:
        key, _, value = item.partition("=")
        if key != "OLLAMA_HOST":
            continue
        scheme, sep, hostport = value.strip().partition("://")
        default = {"http": 80, "https": 443}.get(scheme, 11434) if sep else 11434
        hostport = (hostport if sep else value.strip()).split("/")[0]
        head, colon, port = hostport.rpartition(":")
        if colon and port.isdigit() and (not head.startswith("[") or head.endswith("]")):
            return int(port)
        return default
    return None


def publishes(summary: Stats, port: int) -> bool:
    """Does this `/containers/json` entry publish TCP `port` on the host?"""
    return any(
        p.get("PublicPort") == port and p.get("Type", "tcp") == "tcp"
        for p in summary.get("Ports") or []
    )


def container_name(summary: Stats) -> str:
    names = summary.get("Names") or [summary.get("Name") or ""]
    return str(names[0]).lstrip("/") or str(summary.get("Id", ""))[:12]


def is_local(url: str, engine_host: str | None) -> bool:
    """Can a target at `url` be a container of the engine? Loopback or this host's name for a
    local engine (a unix socket or a loopback DOCKER_HOST); the engine's host for a remote one."""
    host = (urlsplit(url).hostname or "").lower()
    loopback = host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")
    if engine_host and not (engine_host in ("localhost", "::1") or engine_host.startswith("127.")):
        return host == engine_host.lower()
    return loopback or host == socket.gethostname().lower()


class DockerApi(Protocol):
    """The part of `docker.APIClient` used here."""

    def containers(self) -> Any: ...
    def inspect_container(self, container: str) -> Any: ...
    def stats(self, container: str, stream: bool = ..., one_shot: bool | None = ...) -> Any: ...
    def close(self) -> None: ...


def find_container(api: DockerApi, port: int) -> tuple[str, str] | None:
    """(id, name) of the running container serving `port`: published, or in host networking."""
    summaries = cast(list[dict[str, Any]], api.containers())
    for summary in summaries:
        if publishes(summary, port):
            return str(summary["Id"]), container_name(summary)
    for summary in summaries:
        if (summary.get("HostConfig") or {}).get("NetworkMode") != "host":
            continue
        inspected = cast(dict[str, Any], api.inspect_container(str(summary["Id"])))
        if ollama_host_port((inspected.get("Config") or {}).get("Env") or []) == port:
            return str(summary["Id"]), container_name(summary)
    return None


def _docker_api() -> tuple[DockerApi | None, str | None, str | None]:
    """(API client, engine host from DOCKER_HOST, None) or (None, None, why not)."""
    try:
        import docker
        import docker.errors
    except ImportError:
        return None, None, f"the Docker SDK is not installed ({INSTALL_HINT})"
    failure = None
    with warnings.catch_warnings():
        # The SDK leaves its socket open when the connect fails; finalise it here, quietly.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=DOCKER_TIMEOUT_S)
        except docker.errors.DockerException as exc:
            where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            failure = f"no Docker engine answers at {where}"
            if "No such file" not in str(exc):  # a missing socket says all; other causes don't
                failure += f" ({_short(exc)})"
        if failure is not None:
            gc.collect()
            return None, None, failure
    base_url = str(client.api.base_url)
    engine_host = urlsplit(base_url).hostname if base_url.startswith(("http", "tcp")) else None
    return cast(DockerApi, client.api), engine_host, None


def _short(exc: BaseException, limit: int = 140) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- NVIDIA ------------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_nvidia_csv(text: str) -> list[GpuReading]:
    """Lines of `index, utilization.gpu, memory.used, memory.total[, power.draw]` (%, MiB, MiB,
    W); a GPU without power readings prints `[N/A]` or `[Not Supported]` there.

    >>> parse_nvidia_csv("0, 35, 8123, 24564, 71.50\\n1, [N/A], 0, 24564, [N/A]")[1].power_w is None
    True
    """
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) not in (4, 5) or not parts[0].isdigit():
            continue
        used, total = _number(parts[2]), _number(parts[3])
        gpus.append(
            GpuReading(
                index=int(parts[0]),
                utilisation_pct=_number(parts[1]),
                memory_used_bytes=None if used is None else int(used * MIB),
                memory_total_bytes=None if total is None else int(total * MIB),
                power_w=_number(parts[4]) if len(parts) == 5 else None,
            )
        )
    return gpus


def read_gpus() -> list[GpuReading]:
    """One `nvidia-smi` reading of every GPU; raises OSError or CalledProcessError on failure."""
    result = subprocess.run(
        NVIDIA_QUERY, capture_output=True, text=True, timeout=NVIDIA_TIMEOUT_S, check=True
    )
    return parse_nvidia_csv(result.stdout)


def _plan_nvidia(specs: Sequence[TargetSpec]) -> str | None:
    """Why the GPUs will not be sampled, or None when they will."""
    if not any(is_local(s.url, None) for s in specs):
        return "no target is on this machine, so its GPUs say nothing about them"
    if shutil.which(NVIDIA_QUERY[0]) is None:
        return "nvidia-smi not found: no NVIDIA GPU or driver on this machine"
    try:
        if not read_gpus():
            return "nvidia-smi lists no GPU"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi failed ({_short(exc)})"
    return None


# -- planning and sampling ---------------------------------------------------------------------


@dataclass
class Monitor:
    """What to sample during a run, and the threads that sample it (start → stop)."""

    monitoring: Monitoring
    api: DockerApi | None = None
    containers: dict[str, str] = field(default_factory=dict)  # container id → name
    nvidia: bool = False
    rapl_zones: list[Path] = field(default_factory=list)  # RAPL package zones to read
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _sink: Sink | None = None

    @classmethod
    def disabled(cls) -> Monitor:
        return cls(Monitoring(enabled=False))

    @classmethod
    def plan(cls, specs: Sequence[TargetSpec], interval_s: float | None = None) -> Monitor:
        """Find each target's container and whether GPUs can be read (blocking I/O, ~ms)."""
        monitoring = Monitoring(interval_s=INTERVAL_S if interval_s is None else interval_s)
        monitor = cls(monitoring)
        api, engine_host, why = _docker_api()
        if api is None:
            monitoring.docker_note = why
        else:
            monitor.api = api
            missing = []
            for spec in specs:
                found = None
                if is_local(spec.url, engine_host):
                    port = urlsplit(spec.url).port
                    try:
                        found = find_container(api, port) if port else None
                    except Exception as exc:  # the SDK raises many kinds; none may stop a run
                        monitoring.docker_note = f"cannot list containers ({_short(exc)})"
                        break
                if found is None:
                    missing.append(f"{spec.name} ({spec.url})")
                    continue
                monitor.containers[found[0]] = found[1]
                monitoring.containers[spec.name] = found[1]
            if missing and monitoring.docker_note is None:
                monitoring.docker_note = (
                    f"not a container on the local Docker engine: {', '.join(missing)}"
                )
        monitoring.nvidia_note = _plan_nvidia(specs)
        monitor.nvidia = monitoring.nvidia_note is None
        if any(is_local(s.url, None) for s in specs):
            monitor.rapl_zones, monitoring.rapl_note = energy.plan_rapl(energy.POWERCAP_ROOT)
        else:
            monitoring.rapl_note = (
                "no target is on this machine, so its CPU says nothing about them"
            )
        return monitor

    @property
    def active(self) -> bool:
        return bool(self.containers) or self.nvidia or bool(self.rapl_zones)

    def start(self, sink: Sink) -> None:
        """One daemon thread per container and one for the GPUs, each ~every interval_s."""
        jobs: list[Callable[[], None]] = [
            functools.partial(self._sample_container, cid, name, sink)
            for cid, name in self.containers.items()
        ]
        if self.nvidia:
            jobs.append(functools.partial(self._sample_gpus, sink))
        if self.rapl_zones:
            jobs.append(functools.partial(self._sample_rapl, sink))
        self._sink = sink
        for job in jobs:
            thread = threading.Thread(target=job, name="obench-utilisation", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop sampling; nothing reaches the sink after this returns, even from a late thread.

        The power sources get one last reading first, so that energy integration covers the
        last request to its end rather than to the reading before it.
        """
        with self._lock:
            first = not self._stop.is_set()
            self._stop.set()
        if first and self._sink is not None:
            self._final_readings(self._sink)
        for thread in self._threads:
            thread.join(timeout=DOCKER_TIMEOUT_S + 1)
        if self.api is not None and not any(t.is_alive() for t in self._threads):
            self.api.close()
            self.api = None

    def _emit(self, sink: Sink, sample: UtilisationSample) -> None:
        with self._lock:
            if not self._stop.is_set():
                sink(sample)

    def _pace(self, started: float) -> None:
        self._stop.wait(max(0.0, self.monitoring.interval_s - (time.monotonic() - started)))

    def _read_stats(self, container_id: str, one_shot: bool) -> dict[str, Any]:
        """One-shot stats answer at once (API 1.41+); without, the engine waits 1–2 s to fill
        `precpu_stats` itself, which older engines still get."""
        assert self.api is not None
        if one_shot:
            return cast(dict[str, Any], self.api.stats(container_id, stream=False, one_shot=True))
        return cast(dict[str, Any], self.api.stats(container_id, stream=False))

    def _sample_container(self, container_id: str, name: str, sink: Sink) -> None:
        from docker.errors import InvalidVersion

        previous: Stats | None = None
        one_shot = True
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                try:
                    raw = self._read_stats(container_id, one_shot)
                except InvalidVersion:  # an engine before API 1.41
                    one_shot = False
                    raw = self._read_stats(container_id, one_shot)
            except Exception as exc:  # engine gone, container removed: say so once, stop
                error = f"sampling {name} stopped: {_short(exc)}"
                self._emit(sink, _sample("docker", container=name, error=error))
                return
            pct, memory, limit = reading(raw, previous)
            previous = raw.get("cpu_stats")
            sample = _sample(
                "docker", container=name, cpu_pct=pct, memory_bytes=memory, memory_limit=limit
            )
            self._emit(sink, sample)
            self._pace(started)

    def _final_readings(self, sink: Sink) -> None:
        with self._lock:
            if self.nvidia:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    sink(_sample("nvidia", gpus=read_gpus()))
            if self.rapl_zones:
                with contextlib.suppress(OSError, ValueError):
                    sink(_sample("rapl", rapl=energy.read_rapl(self.rapl_zones)))

    def _sample_rapl(self, sink: Sink) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                readings = energy.read_rapl(self.rapl_zones)
            except (OSError, ValueError) as exc:
                self._emit(sink, _sample("rapl", error=f"reading RAPL stopped: {_short(exc)}"))
                return
            self._emit(sink, _sample("rapl", rapl=readings))
            self._pace(started)

    def _sample_gpus(self, sink: Sink) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                gpus = read_gpus()
            except (OSError, subprocess.SubprocessError) as exc:
                self._emit(sink, _sample("nvidia", error=f"nvidia-smi stopped: {_short(exc)}"))
                return
            self._emit(sink, _sample("nvidia", gpus=gpus))
            self._pace(started)


def _sample(
    source: Literal["docker", "nvidia", "rapl"],
    *,
    container: str | None = None,
    cpu_pct: float | None = None,
    memory_bytes: int | None = None,
    memory_limit: int | None = None,
    gpus: list[GpuReading] | None = None,
    rapl: list[RaplReading] | None = None,
    error: str | None = None,
) -> UtilisationSample:
    return UtilisationSample(
        source=source,
        at=datetime.now(UTC),
        container=container,
        cpu_pct=cpu_pct,
        memory_bytes=memory_bytes,
        memory_limit_bytes=memory_limit,
        gpus=gpus or [],
        rapl=rapl or [],
        error=error,
    )
