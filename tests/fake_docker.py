"""A fake Docker Engine API on loopback, for the Docker SDK paths of ops/utilisation.py.

No Docker engine runs on the build machines, so the real SDK (`docker.from_env()` with
DOCKER_HOST=tcp://127.0.0.1:PORT) talks to this server: `GET /_ping`, `/version`, and, with or
without a `/v<api>` prefix, `/containers/json`, `/containers/{id}/json` and
`/containers/{id}/stats?stream=0[&one-shot=1]`. Bodies follow the Engine API reference
(ContainerList, ContainerInspect, ContainerStats) with the keys, types and nesting a real engine
sends (checked against Docker 20.10, API 1.41, by tests/test_docker_engine.py); errors are
`{"message": …}`. `stream=1` (a stats stream) is not served: utilisation.py does not use it.

Stats run on a virtual clock so CPU % is exact: the n-th stats call of a container reads tick
n+1 and, as the engine does for stream=0 without one-shot, puts tick n in `precpu_stats`; with
one-shot=1, `precpu_stats` is zeroed and `preread` is Go's zero time, as the engine sends them.
A tick is one second in which the container used `cores_busy[n]` cores of `online_cpus`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NS = 1_000_000_000
BASE_USAGE_NS = 48_000_000_000  # CPU the container used before the first tick
BASE_SYSTEM_NS = 3_600_000_000_000_000  # host CPU time since boot at tick 0


@dataclass
class FakeContainer:
    """One container; `ports` maps container port → published host port (bridge networking)."""

    name: str
    id: str = ""  # 64 hex, derived from the name when left empty
    image: str = "ollama/ollama:0.24.0"
    ports: dict[int, int] = field(default_factory=dict)
    network_mode: str = "bridge"  # "host": nothing published; found by OLLAMA_HOST instead
    env: list[str] = field(
        default_factory=lambda: [
            "OLLAMA_HOST=0.0.0.0:11434",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    )
    cores_busy: list[float] = field(default_factory=lambda: [1.0])  # per tick; last repeats
    online_cpus: int = 8
    memory_usage_bytes: int = 9_000_000_000
    inactive_file_bytes: int = 1_000_000_000
    memory_limit_bytes: int = 33_000_000_000
    cgroup: int = 2  # 1: v1 memory stats (total_inactive_file, max_usage), 2: v2
    running: bool = True
    stats_calls: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            self.id = hashlib.sha256(self.name.encode()).hexdigest()

    def usage_ns(self, tick: int) -> int:
        busy = [self.cores_busy[min(i, len(self.cores_busy) - 1)] for i in range(tick)]
        return BASE_USAGE_NS + round(sum(busy) * NS)

    def system_ns(self, tick: int) -> int:
        return BASE_SYSTEM_NS + tick * self.online_cpus * NS


@dataclass
class FakeDockerConfig:
    api_version: str = "1.47"
    engine_version: str = "27.3.1"
    containers: list[FakeContainer] = field(default_factory=list)


def _bool(values: dict[str, list[str]], key: str, default: bool) -> bool:
    """The engine's BoolValue: absent → default; "", 0, no, false, none → False."""
    if key not in values:
        return default
    return values[key][0].strip().lower() not in ("", "0", "no", "false", "none")


def _time(tick: int) -> str:
    return f"2026-11-24T10:{tick // 60 % 60:02d}:{tick % 60:02d}.123456789Z"


class FakeDocker:
    """A running fake engine; `url` is what DOCKER_HOST needs (tcp://…). Context manager."""

    def __init__(self, config: FakeDockerConfig | None = None) -> None:
        self.config = config or FakeDockerConfig()
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        return f"tcp://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeDocker:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeDocker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def find(self, ref: str) -> FakeContainer | None:
        for container in self.config.containers:
            if ref in (container.name, "/" + container.name) or (
                len(ref) >= 4 and container.id.startswith(ref)
            ):
                return container
        return None

    # -- bodies ------------------------------------------------------------------------------

    def summary(self, c: FakeContainer) -> dict[str, Any]:
        ports = [
            {"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": "tcp"}
            for private, public in sorted(c.ports.items())
            for ip in ("0.0.0.0", "::")
        ]
        networks = {
            c.network_mode: {
                "IPAMConfig": None,
                "Links": None,
                "Aliases": None,
                "NetworkID": hashlib.sha256(c.network_mode.encode()).hexdigest(),
                "EndpointID": hashlib.sha256(c.id.encode()).hexdigest(),
                "Gateway": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": "",
                "DriverOpts": None,
            }
        }
        return {
            "Id": c.id,
            "Names": ["/" + c.name],
            "Image": c.image,
            "ImageID": "sha256:" + hashlib.sha256(c.image.encode()).hexdigest(),
            "Command": "/bin/ollama serve",
            "Created": 1795479905,
            "Ports": ports,
            "Labels": {},
            "State": "running" if c.running else "exited",
            "Status": "Up 5 minutes" if c.running else "Exited (0) 1 minute ago",
            "HostConfig": {"NetworkMode": c.network_mode},
            "NetworkSettings": {"Networks": networks},
            "Mounts": [],
        }

    def inspect(self, c: FakeContainer) -> dict[str, Any]:
        bindings = {
            f"{private}/tcp": [{"HostIp": "", "HostPort": str(public)}]
            for private, public in c.ports.items()
        }
        published = {
            f"{private}/tcp": [
                {"HostIp": "0.0.0.0", "HostPort": str(public)},
                {"HostIp": "::", "HostPort": str(public)},
            ]
            for private, public in c.ports.items()
        }
        return {
            "Id": c.id,
            "Created": "2026-11-24T09:55:01.000000000Z",
            "Path": "/bin/ollama",
            "Args": ["serve"],
            "State": {
                "Status": "running" if c.running else "exited",
                "Running": c.running,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "Dead": False,
                "Pid": 4242 if c.running else 0,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": "2026-11-24T09:55:02.000000000Z",
                "FinishedAt": "0001-01-01T00:00:00Z",
            },
            "Image": "sha256:" + hashlib.sha256(c.image.encode()).hexdigest(),
            "Name": "/" + c.name,
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "HostConfig": {"NetworkMode": c.network_mode, "PortBindings": bindings},
            "Mounts": [],
            "Config": {
                "Hostname": c.id[:12],
                "Env": list(c.env),
                "Cmd": ["serve"],
                "Image": c.image,
                "Entrypoint": ["/bin/ollama"],
                "ExposedPorts": {"11434/tcp": {}},
                "Labels": {},
            },
            "NetworkSettings": {
                "Bridge": "",
                "SandboxID": hashlib.sha256(c.name.encode()).hexdigest(),
                "Ports": {} if c.network_mode == "host" else published,
                "Networks": self.summary(c)["NetworkSettings"]["Networks"],
            },
        }

    def stats(self, c: FakeContainer, one_shot: bool) -> dict[str, Any]:
        with self.lock:
            tick = c.stats_calls + 1
            c.stats_calls += 1

        def cpu(at: int) -> dict[str, Any]:
            usage = c.usage_ns(at)
            return {
                "cpu_usage": {
                    "total_usage": usage,
                    "usage_in_kernelmode": usage // 10,
                    "usage_in_usermode": usage - usage // 10,
                },
                "system_cpu_usage": c.system_ns(at),
                "online_cpus": c.online_cpus,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
            }

        zero = {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }
        return {
            "name": "/" + c.name,
            "id": c.id,
            "read": _time(tick),
            "preread": "0001-01-01T00:00:00Z" if one_shot else _time(tick - 1),
            "pids_stats": {"current": 23, "limit": 76762},
            "blkio_stats": {
                "io_service_bytes_recursive": [
                    {"major": 259, "minor": 0, "op": "read", "value": 7_816_589_186},
                    {"major": 259, "minor": 0, "op": "write", "value": 0},
                ],
                "io_serviced_recursive": None,
                "io_queue_recursive": None,
                "io_service_time_recursive": None,
                "io_wait_time_recursive": None,
                "io_merged_recursive": None,
                "io_time_recursive": None,
                "sectors_recursive": None,
            },
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu(tick),
            "precpu_stats": zero if one_shot else cpu(tick - 1),
            "memory_stats": self._memory(c),
            "networks": {}
            if c.network_mode == "host"
            else {
                "eth0": {
                    "rx_bytes": 5338,
                    "rx_packets": 36,
                    "rx_errors": 0,
                    "rx_dropped": 0,
                    "tx_bytes": 648,
                    "tx_packets": 8,
                    "tx_errors": 0,
                    "tx_dropped": 0,
                }
            },
        }

    @staticmethod
    def _memory(c: FakeContainer) -> dict[str, Any]:
        if c.cgroup == 1:
            stats = {
                "active_anon": c.memory_usage_bytes - c.inactive_file_bytes,
                "cache": c.inactive_file_bytes,
                "inactive_file": c.inactive_file_bytes,
                "rss": c.memory_usage_bytes - c.inactive_file_bytes,
                "total_cache": c.inactive_file_bytes,
                "total_inactive_file": c.inactive_file_bytes,
                "total_rss": c.memory_usage_bytes - c.inactive_file_bytes,
                "hierarchical_memory_limit": 9223372036854771712,
            }
            return {
                "usage": c.memory_usage_bytes,
                "max_usage": c.memory_usage_bytes + 4096,
                "stats": stats,
                "limit": c.memory_limit_bytes,
            }
        anon = c.memory_usage_bytes - c.inactive_file_bytes
        stats = {
            "active_anon": anon,
            "active_file": 0,
            "anon": anon,
            "file": c.inactive_file_bytes,
            "file_mapped": c.inactive_file_bytes,
            "inactive_anon": 0,
            "inactive_file": c.inactive_file_bytes,
            "kernel_stack": 1_458_176,
            "pgfault": 2_102_354,
            "pgmajfault": 0,
            "shmem": 0,
            "slab": 6_102_344,
            "sock": 0,
            "unevictable": 0,
        }
        return {"usage": c.memory_usage_bytes, "stats": stats, "limit": c.memory_limit_bytes}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDocker
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Api-Version", self.fake.config.api_version)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        self.send_header("Server", f"Docker/{self.fake.config.engine_version} (linux)")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode() + b"\n", "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        with self.fake.lock:
            self.fake.requests.append(self.path)
        segments = path.strip("/").split("/")
        if segments and segments[0].startswith("v") and segments[0][1:2].isdigit():
            segments = segments[1:]
        config = self.fake.config
        if segments == ["_ping"]:
            return self._send(200, b"OK", "text/plain; charset=utf-8")
        if segments == ["version"]:
            return self._json(200, self._version())
        if segments == ["containers", "json"]:
            everything = _bool(query, "all", False)
            return self._json(
                200,
                [self.fake.summary(c) for c in config.containers if c.running or everything],
            )
        if len(segments) == 3 and segments[0] == "containers":
            container = self.fake.find(segments[1])
            if container is None:
                return self._json(404, {"message": f"No such container: {segments[1]}"})
            if segments[2] == "json":
                return self._json(200, self.fake.inspect(container))
            if segments[2] == "stats":
                if _bool(query, "stream", True):
                    return self._json(501, {"message": "the fake serves stream=0 only"})
                one_shot = _bool(query, "one-shot", False)
                return self._json(200, self.fake.stats(container, one_shot))
        return self._json(404, {"message": "page not found"})

    def _version(self) -> dict[str, Any]:
        config = self.fake.config
        return {
            "Platform": {"Name": "Docker Engine - Community"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": config.engine_version,
                    "Details": {"ApiVersion": config.api_version, "MinAPIVersion": "1.24"},
                }
            ],
            "Version": config.engine_version,
            "ApiVersion": config.api_version,
            "MinAPIVersion": "1.24",
            "GitCommit": "41ca978",
            "GoVersion": "go1.22.7",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": "6.8.0-49-generic",
            "BuildTime": "2024-09-20T11:41:19.000000000+00:00",
        }
