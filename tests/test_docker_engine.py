"""Against a real Docker engine (DOCKER_HOST or the default socket); skipped when none answers.

No registry is needed: the image is imported from the host's static busybox (Debian's
busybox-static). Containers use host networking only, so nothing gets an address of its own;
a busy loop stands in for a loaded Ollama server. These prove the fake engine faithful (the same
keys and types in the bodies utilisation.py reads) and the sampling right on real cgroups.
"""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import tarfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_docker import FakeContainer, FakeDocker
from fake_http import free_port
from fake_ollama import FakeOllama
from PIL import Image
from typer.testing import CliRunner

from ollama_bench.cli import app
from ollama_bench.models import UtilisationSample
from ollama_bench.ops import utilisation
from ollama_bench.ops.utilisation import Monitor, find_container
from ollama_bench.targets.spec import parse_target

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]
Make = Callable[..., FakeOllama]
IMAGE = "obench-test/busybox:latest"
BUSY = ["/bin/sh", "-c", "while :; do :; done"]


@pytest.fixture
def monitor_default() -> str:
    """These tests are about utilisation sampling: keep it on (conftest turns it off)."""
    return "1"


def engine() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the SDK's socket, when none answers
        try:
            import docker

            client = docker.from_env(timeout=10)
            client.ping()
            return client
        except Exception:
            pass
        gc.collect()
    return None


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    found = engine()
    if found is None:
        pytest.skip("no Docker engine answers (set DOCKER_HOST to run these)")
    yield found
    found.close()


@pytest.fixture(scope="module")
def image(client: Any) -> Iterator[str]:
    busybox = shutil.which("busybox")
    if busybox is None or b"ld-linux" in Path(busybox).read_bytes()[:4096]:
        pytest.skip("needs a static busybox (apt-get install busybox-static)")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    client.api.import_image_from_data(data.getvalue(), repository="obench-test/busybox")
    yield IMAGE
    client.images.remove(IMAGE, force=True)


@pytest.fixture
def busy(client: Any, image: str) -> Iterator[Callable[[int], Any]]:
    """Start a host-network container that claims OLLAMA_HOST=127.0.0.1:PORT and burns a core."""
    started: list[Any] = []

    def start(port: int) -> Any:
        container = client.containers.run(
            image,
            BUSY,
            name=f"obench-test-{os.getpid()}-{port}",
            network_mode="host",
            environment={"OLLAMA_HOST": f"127.0.0.1:{port}"},
            detach=True,
        )
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove(force=True)


def shape(value: Any, depth: int = 2) -> Any:
    """Keys and leaf types, `depth` levels down: what a parser of these bodies relies on."""
    if isinstance(value, dict) and depth:
        return {k: shape(v, depth - 1) for k, v in value.items()}
    return type(value).__name__


def assert_within(fake: Any, real: Any, where: str = "") -> None:
    """Every key the fake sends, the real engine sends too, with the same type of value."""
    if isinstance(fake, dict):
        assert isinstance(real, dict), f"{where}: real is {real}"
        for key, value in fake.items():
            assert key in real, f"{where}.{key} is not in the real body"
            assert_within(value, real[key], f"{where}.{key}")
    elif fake != "NoneType" and real != "NoneType":
        assert fake == real, f"{where}: fake {fake}, real {real}"


def test_fake_engine_bodies_have_the_real_engines_keys_and_types(
    client: Any, busy: Callable[[int], Any]
) -> None:
    container = busy(free_port())
    api = client.api
    real_summary = next(c for c in api.containers() if c["Id"] == container.id)
    real_inspect = api.inspect_container(container.id)
    real_stats = api.stats(container.id, stream=False)
    cgroup = 1 if "total_inactive_file" in real_stats["memory_stats"]["stats"] else 2
    fake_container = FakeContainer("x", network_mode="host", cgroup=cgroup)
    fake = FakeDocker()
    assert_within(shape(fake.summary(fake_container)), shape(real_summary), "summary")
    fake_config = fake.inspect(fake_container)["Config"]
    fake_config.pop("ExposedPorts")  # from the image's EXPOSE: ollama's has one, busybox none
    assert_within(shape(fake_config), shape(real_inspect["Config"]), "inspect.Config")
    fake_state = fake.inspect(fake_container)["State"]
    assert_within(shape(fake_state), shape(real_inspect["State"]), "inspect.State")
    fake_stats = shape(fake.stats(fake_container, one_shot=False), depth=3)
    fake_stats["pids_stats"].pop("limit", None)  # newer engines only
    fake_stats["memory_stats"]["stats"] = {
        k: v for k, v in fake_stats["memory_stats"]["stats"].items() if "inactive_file" in k
    }
    for key in ("networks", "blkio_stats"):
        fake_stats.pop(key)  # vary with the network mode and the engine's version
    assert_within(fake_stats, shape(real_stats, depth=3), "stats")
    real_one_shot = api.stats(container.id, stream=False, one_shot=True)
    fake_one_shot = fake.stats(fake_container, one_shot=True)
    assert real_one_shot["preread"] == fake_one_shot["preread"] == "0001-01-01T00:00:00Z"
    assert shape(fake_one_shot["precpu_stats"], 3) == shape(real_one_shot["precpu_stats"], 3)


def test_a_real_container_is_found_and_sampled(client: Any, busy: Callable[[int], Any]) -> None:
    port = free_port()
    container = busy(port)
    found = find_container(client.api, port)
    assert found == (container.id, container.name)
    monitor = Monitor.plan([parse_target(f"gpu=http://127.0.0.1:{port}")], interval_s=0.2)
    assert monitor.monitoring.containers == {"gpu": container.name}
    got: list[UtilisationSample] = []
    monitor.start(got.append)
    deadline = time.monotonic() + 60
    while len(got) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    monitor.stop()
    assert len(got) >= 4 and not any(s.error for s in got)
    assert got[0].cpu_pct is None  # a one-shot reading has no earlier one to compare with
    cpus = os.cpu_count() or 1
    for sample in got[1:]:  # a busy loop: about one core, as docker stats would show
        assert sample.cpu_pct is not None and 10 < sample.cpu_pct <= cpus * 100 + 5
    assert all(s.memory_bytes is not None and 0 < s.memory_bytes < 64 * 2**20 for s in got)


def test_obench_vision_samples_the_container_behind_a_target(
    client: Any,
    busy: Callable[[int], Any],
    fake_ollama: Make,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(utilisation, "INTERVAL_S", 0.2)
    server = fake_ollama(token_delay_s=0.15, reply='{"a": "' + "word " * 4 + '"}')
    port = int(server.url.rsplit(":", 1)[1])
    container = busy(port)  # host networking: the container "serves" the target's port
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (32, 24), (90 * i, 90, 160)).save(images / f"{i}.png")
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(
        app,
        [
            *("vision", "--quiet", "--json", "--runs", "2", "--warmup", "1"),
            *("--images", str(images), "-t", f"gpu={server.url}", "--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["monitoring"]["containers"] == {"gpu": container.name}
    docker_lines = [r for r in records if r["kind"] == "utilisation" and r["source"] == "docker"]
    assert docker_lines and all(r["container"] == container.name for r in docker_lines)
    assert all(r["cpu_pct"] is None or r["cpu_pct"] > 10 for r in docker_lines)
    used = json.loads(result.stdout)["targets"][0]["utilisation"]
    assert used["container"] == container.name and used["cpu_pct_peak"] > 10
