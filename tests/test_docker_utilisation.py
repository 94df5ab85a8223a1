"""Utilisation sampling through the real Docker SDK against a fake Engine API, and nvidia-smi.

The fake engine (tests/fake_docker.py) runs on loopback and is reached the way a user's engine
is, through DOCKER_HOST. Its stats run on a virtual clock, so CPU % is exact. A stand-in
`nvidia-smi` prints what the real one prints for the query obench makes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import nvidia_smi
from fake_docker import FakeContainer, FakeDocker, FakeDockerConfig
from fake_ollama import FakeOllama
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.models import UtilisationSample
from ollama_bench.ops import utilisation
from ollama_bench.ops.utilisation import (
    Monitor,
    cpu_pct,
    find_container,
    memory_bytes,
    ollama_host_port,
    parse_nvidia_csv,
    reading,
)
from ollama_bench.targets.spec import parse_target

Make = Callable[..., FakeOllama]

#: Captured from a real engine here (Docker 20.10.24, API 1.41, cgroup v1) for a container in a
#: busy loop: `docker stats` showed 100.71% and 452KiB for it a moment earlier.
REAL_STATS_V1: dict[str, Any] = {
    "read": "2026-11-24T00:25:15.773391176Z",
    "preread": "2026-11-24T00:25:14.770979404Z",
    "cpu_stats": {
        "cpu_usage": {
            "total_usage": 10493160487,
            "percpu_usage": [10225715809, 267444678],
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 10480000000,
        },
        "system_cpu_usage": 3623260000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {
            "total_usage": 9490318748,
            "percpu_usage": [9222874070, 267444678],
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 9480000000,
        },
        "system_cpu_usage": 3621260000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 462848,
        "max_usage": 3837952,
        "stats": {"cache": 0, "inactive_file": 0, "total_inactive_file": 0, "rss": 57344},
        "limit": 25276510208,
    },
}


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDocker]:
    fake = FakeDocker(FakeDockerConfig()).start()
    monkeypatch.setenv("DOCKER_HOST", fake.url)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    yield fake
    fake.stop()


@pytest.fixture
def no_nvidia(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "no-nvidia"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def monitor_default() -> str:
    """These tests are about utilisation sampling: keep it on (conftest turns it off)."""
    return "1"


def api() -> Any:
    import docker

    return docker.from_env(timeout=5).api


# -- arithmetic, as the Docker CLI does it ------------------------------------------------------


def test_cpu_and_memory_of_a_real_engine_body_match_docker_stats() -> None:
    pct, memory, limit = reading(REAL_STATS_V1, None)
    # (10493160487 − 9490318748) / (3623260000000 − 3621260000000) × 2 × 100
    assert pct == pytest.approx(1002841739 / 2_000_000_000 * 200)
    assert round(pct or 0, 2) == 100.28
    assert memory == 462848  # 452 KiB: usage − total_inactive_file (cgroup v1)
    assert limit == 25276510208


def test_cpu_pct_edge_cases_follow_the_cli() -> None:
    now = {"cpu_usage": {"total_usage": 200, "percpu_usage": [1, 1, 1, 1]}, "system_cpu_usage": 800}
    before = {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 400}
    assert cpu_pct(now, before) == 100.0  # online_cpus absent: the percpu list counts (4)
    assert cpu_pct(now, now) == 0.0  # no change: 0, not an error
    assert cpu_pct(now, None) is None and cpu_pct(now, {"cpu_usage": {"total_usage": 0}}) is None


def test_memory_subtracts_inactive_file_on_cgroup_v2_and_never_goes_negative() -> None:
    assert memory_bytes({"usage": 9_000, "stats": {"inactive_file": 1_000}}) == 8_000
    assert memory_bytes({"usage": 9_000, "stats": {"inactive_file": 9_500}}) == 9_000
    assert memory_bytes({"usage": 9_000, "stats": {}}) == 9_000
    assert memory_bytes({}) is None


def test_one_shot_readings_fall_back_to_the_previous_sample() -> None:
    body = json.loads(json.dumps(REAL_STATS_V1))
    body["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    assert reading(body, None)[0] is None
    assert reading(body, REAL_STATS_V1["precpu_stats"])[0] == pytest.approx(100.28, abs=0.01)


def test_ollama_host_port_reads_it_as_ollama_does() -> None:
    assert ollama_host_port(["OLLAMA_HOST=0.0.0.0:11435"]) == 11435
    assert ollama_host_port(["OLLAMA_HOST=0.0.0.0"]) == 11434
    assert ollama_host_port(["OLLAMA_HOST=http://0.0.0.0"]) == 80
    assert ollama_host_port(["OLLAMA_HOST=[::]:8080"]) == 8080
    assert ollama_host_port(["PATH=/bin"]) is None


# -- container lookup through the SDK ------------------------------------------------------------


def test_container_found_by_published_port(engine: FakeDocker) -> None:
    engine.config.containers += [
        FakeContainer("obench-ollama-gpu-1", ports={11434: 11434}),
        FakeContainer("obench-ollama-cpu-1", ports={11434: 11435}),
        FakeContainer("stopped", ports={11434: 11436}, running=False),
    ]
    client = api()
    assert client.ping() is True and client.version()["ApiVersion"] == "1.47"
    by_port = {port: find_container(client, port) for port in (11434, 11435, 11436, 9)}
    assert by_port[11435] == (engine.find("obench-ollama-cpu-1").id, "obench-ollama-cpu-1")  # type: ignore[union-attr]
    assert by_port[11434] is not None and by_port[11434][1] == "obench-ollama-gpu-1"
    assert by_port[11436] is None and by_port[9] is None
    client.close()


def test_host_network_container_found_by_its_ollama_host(engine: FakeDocker) -> None:
    engine.config.containers += [
        FakeContainer("node-exporter", network_mode="host", env=["PATH=/bin"]),
        FakeContainer("ollama-host", network_mode="host", env=["OLLAMA_HOST=0.0.0.0:11500"]),
    ]
    client = api()
    found = find_container(client, 11500)
    assert found is not None and found[1] == "ollama-host"
    assert find_container(client, 11434) is None  # node-exporter runs no Ollama
    client.close()


def test_plan_maps_targets_to_containers_and_says_why_not(
    engine: FakeDocker, fake_ollama: Make, no_nvidia: None
) -> None:
    served, bare = fake_ollama(), fake_ollama()
    port = int(served.url.rsplit(":", 1)[1])
    engine.config.containers.append(FakeContainer("ollama-gpu", ports={11434: port}))
    specs = [
        parse_target(f"gpu={served.url}"),
        parse_target(f"cpu={bare.url}"),
        parse_target("far=http://gpu-box.example:11434"),
    ]
    monitor = Monitor.plan(specs)
    monitoring = monitor.monitoring
    assert monitoring.containers == {"gpu": "ollama-gpu"}
    assert monitoring.docker_note == (
        "not a container on the local Docker engine: "
        f"cpu ({bare.url}), far (http://gpu-box.example:11434)"
    )
    assert monitoring.nvidia_note == "nvidia-smi not found: no NVIDIA GPU or driver on this machine"
    monitor.stop()


def test_no_engine_and_no_sdk_are_said_once(
    monkeypatch: pytest.MonkeyPatch, fake_ollama: Make, no_nvidia: None
) -> None:
    with FakeDocker() as gone:
        url = gone.url
    monkeypatch.setenv("DOCKER_HOST", url)  # nothing listens there any more
    spec = parse_target(f"gpu={fake_ollama().url}")
    note = Monitor.plan([spec]).monitoring.docker_note
    assert note is not None and note.startswith("no Docker engine answers")
    monkeypatch.setitem(sys.modules, "docker", None)  # the SDK is not installed
    note = Monitor.plan([spec]).monitoring.docker_note
    assert note == "the Docker SDK is not installed (pip install 'ollama-bench[docker]')"


# -- sampling --------------------------------------------------------------------------------------


def sample_for(monitor: Monitor, until: Callable[[list[UtilisationSample]], bool]) -> list[Any]:
    got: list[UtilisationSample] = []
    monitor.start(got.append)
    deadline = time.monotonic() + 10
    while not until(got) and time.monotonic() < deadline:
        time.sleep(0.01)
    monitor.stop()
    return got


def test_sampler_reads_cpu_and_memory_as_docker_stats_would(
    engine: FakeDocker, fake_ollama: Make, no_nvidia: None
) -> None:
    server = fake_ollama()
    port = int(server.url.rsplit(":", 1)[1])
    container = FakeContainer(
        "ollama-cpu",
        ports={11434: port},
        cores_busy=[0.5, 6.0, 2.0],
        memory_usage_bytes=9_000_000_000,
        inactive_file_bytes=1_250_000_000,
    )
    engine.config.containers.append(container)
    monitor = Monitor.plan([parse_target(f"cpu={server.url}")], interval_s=0.01)
    got = sample_for(monitor, lambda got: len(got) >= 4)
    # one-shot readings: the first has nothing to compare with; then tick by tick
    assert [s.cpu_pct for s in got[:4]] == [None, 600.0, 200.0, 200.0]
    assert {s.memory_bytes for s in got} == {7_750_000_000}
    assert {s.memory_limit_bytes for s in got} == {33_000_000_000}
    assert {(s.source, s.container) for s in got} == {("docker", "ollama-cpu")}
    count = container.stats_calls
    time.sleep(0.1)
    assert container.stats_calls == count  # stopped means stopped
    stats = [r for r in engine.requests if "/stats" in r]
    assert stats and all("stream=False" in r and "one-shot=True" in r for r in stats)


def test_a_container_that_disappears_stops_its_sampler_with_one_error(
    engine: FakeDocker, fake_ollama: Make, no_nvidia: None
) -> None:
    server = fake_ollama()
    port = int(server.url.rsplit(":", 1)[1])
    engine.config.containers.append(FakeContainer("short-lived", ports={11434: port}))
    monitor = Monitor.plan([parse_target(f"gpu={server.url}")], interval_s=0.01)
    got: list[UtilisationSample] = []
    monitor.start(got.append)
    while not got:
        time.sleep(0.01)
    engine.config.containers.clear()  # removed: the engine now answers 404
    deadline = time.monotonic() + 10
    while not any(s.error for s in got) and time.monotonic() < deadline:
        time.sleep(0.01)
    monitor.stop()
    errors = [s for s in got if s.error]
    assert len(errors) == 1 and errors[0].error.startswith("sampling short-lived stopped")  # type: ignore[union-attr]


def test_nvidia_smi_output_is_parsed_and_sampled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_ollama: Make
) -> None:
    gpus = parse_nvidia_csv("0, 87, 20480, 24564\n1, [N/A], [N/A], 24564\n")
    assert [(g.index, g.utilisation_pct, g.memory_used_bytes) for g in gpus] == [
        (0, 87.0, 20480 * 2**20),
        (1, None, None),
    ]
    monkeypatch.setenv("PATH", str(nvidia_smi(tmp_path / "bin")))
    monkeypatch.setitem(sys.modules, "docker", None)
    monitor = Monitor.plan([parse_target(f"gpu={fake_ollama().url}")], interval_s=0.01)
    assert monitor.monitoring.nvidia_note is None and monitor.nvidia
    got = sample_for(monitor, lambda got: len(got) >= 2)
    assert got[0].source == "nvidia" and got[0].gpus[0].utilisation_pct == 87.0
    remote = Monitor.plan([parse_target("gpu=http://gpu-box.example:11434")])
    assert remote.monitoring.nvidia_note is not None and "no target is on this machine" in (
        remote.monitoring.nvidia_note
    )


# -- during obench vision ----------------------------------------------------------------------


def test_vision_run_records_and_summarises_utilisation(
    engine: FakeDocker,
    fake_ollama: Make,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(utilisation, "INTERVAL_S", 0.02)
    monkeypatch.setenv("PATH", str(nvidia_smi(tmp_path / "bin")))
    gpu = fake_ollama(token_delay_s=0.05, reply='{"a": "x x x x"}', vram_fraction=1.0)
    cpu = fake_ollama(token_delay_s=0.05, reply='{"a": "x x x x"}', vram_fraction=0.0)
    for name, server, busy in (("ollama-gpu", gpu, 0.5), ("ollama-cpu", cpu, 6.0)):
        port = int(server.url.rsplit(":", 1)[1])
        engine.config.containers.append(FakeContainer(name, ports={11434: port}, cores_busy=[busy]))
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(
        app,
        [
            *("vision", "--quiet", "--json", "--runs", "1", "--warmup", "1"),
            *("-t", f"gpu={gpu.url}", "-t", f"cpu={cpu.url}", "--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    header, footer = records[0], records[-1]
    assert header["monitoring"]["containers"] == {"gpu": "ollama-gpu", "cpu": "ollama-cpu"}
    assert header["monitoring"]["docker_note"] is None
    kinds = [r["kind"] for r in records]
    assert kinds.count("utilisation") > 0 and kinds[-1] == "footer"
    assert footer["samples"] == kinds.count("sample")  # utilisation lines are not samples
    docker_lines = [r for r in records if r["kind"] == "utilisation" and r["source"] == "docker"]
    assert {(r["container"], r["cpu_pct"]) for r in docker_lines} == {
        ("ollama-gpu", None),  # each container's first one-shot reading
        ("ollama-gpu", 50.0),
        ("ollama-cpu", None),
        ("ollama-cpu", 600.0),
    }
    summary = {t["name"]: t for t in json.loads(result.stdout)["targets"]}
    for name, container, busy in (("gpu", "ollama-gpu", 50.0), ("cpu", "ollama-cpu", 600.0)):
        used = summary[name]["utilisation"]
        assert used["container"] == container and used["window"] == "requests"
        assert used["cpu_pct_mean"] == used["cpu_pct_peak"] == busy
        assert used["memory_bytes_peak"] == 8_000_000_000
        assert used["gpu_pct_mean"] == 87.0 and used["gpu_memory_bytes_peak"] == 20480 * 2**20
    codes = {w["code"] for w in json.loads(result.stdout)["warnings"]}
    assert not {"no-utilisation", "no-gpu-utilisation"} & codes
    report = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert "container CPU mean / peak" in report.stdout and "600% / 600%" in report.stdout
    assert "7.45 GiB" in report.stdout  # 8e9 bytes, as docker stats would show it


def test_vision_without_docker_warns_once_and_goes_on(
    fake_ollama: Make, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_nvidia: None
) -> None:
    with FakeDocker() as gone:
        url = gone.url
    monkeypatch.setenv("DOCKER_HOST", url)
    monkeypatch.setattr(utilisation, "INTERVAL_S", 0.01)
    out = tmp_path / "run.jsonl"
    server = fake_ollama(token_delay_s=0.01)
    args = ["vision", "--quiet", "--json", "--runs", "1", "-t", f"gpu={server.url}"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    warnings = [w for w in json.loads(result.stdout)["warnings"] if "utilisation" in w["code"]]
    assert [w["code"] for w in warnings] == ["no-utilisation", "no-gpu-utilisation"]
    assert warnings[0]["message"].startswith("container CPU and memory not sampled: no Docker")
    assert '"kind":"utilisation"' not in out.read_text()


def test_no_monitor_leaves_monitoring_out_of_the_header(fake_ollama: Make, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    server = fake_ollama()
    args = ["vision", "--quiet", "--no-monitor", "--runs", "1", "-t", f"gpu={server.url}"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text().splitlines()[0])["monitoring"] is None
    assert not any("utilisation" in w["code"] for w in json.loads(result.stdout)["warnings"])
