"""compose.yaml and compose.cpu-only.yaml: what they promise, checked by YAML and by Compose itself.

`docker-compose config` (Debian's, v1) and `docker compose config` (the v2 plugin) validate and
merge a file without a Docker engine; each runs when installed and is skipped otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
CPU_ONLY = ROOT / "compose.cpu-only.yaml"
IMAGE = "ollama/ollama:0.24.0"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    return dict(load(COMPOSE)["services"])


def host_port(entry: str) -> tuple[str, str]:
    """`${OBENCH_BIND:-127.0.0.1}:${OBENCH_GPU_PORT:-11434}:11434` → ("11434", "11434")."""
    resolved = entry
    while "${" in resolved:  # take each variable's default, as Compose does when it is unset
        start = resolved.index("${")
        end = resolved.index("}", start)
        resolved = (
            resolved[:start] + resolved[start + 2 : end].split(":-", 1)[1] + resolved[end + 1 :]
        )
    *_, published, target = resolved.split(":")
    return published, target


def test_two_servers_on_the_documented_ports() -> None:
    found = services()
    assert {"ollama-gpu", "ollama-cpu"} <= set(found)
    assert [host_port(p) for p in found["ollama-gpu"]["ports"]] == [("11434", "11434")]
    assert [host_port(p) for p in found["ollama-cpu"]["ports"]] == [("11435", "11434")]
    for name in ("ollama-gpu", "ollama-cpu"):  # Ollama has no auth: loopback unless asked
        assert found[name]["ports"][0].startswith("${OBENCH_BIND:-127.0.0.1}:")


def test_every_image_is_pinned_to_the_last_release_with_mllama() -> None:
    images = {name: s["image"] for name, s in services().items()}
    assert set(images.values()) == {IMAGE}, images
    assert not any(i.endswith(":latest") or ":" not in i for i in images.values())


def test_gpu_reservation_on_the_gpu_server_only() -> None:
    found = services()
    (device,) = found["ollama-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert device["count"] == "all"
    others = [name for name, s in found.items() if name != "ollama-gpu"]
    assert all("deploy" not in found[name] and "runtime" not in found[name] for name in others)


def test_cpu_server_is_forced_onto_the_cpu() -> None:
    env = services()["ollama-cpu"]["environment"]
    assert env["CUDA_VISIBLE_DEVICES"] == "-1"
    assert env["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert "CUDA_VISIBLE_DEVICES" not in services()["ollama-gpu"]["environment"]


def test_healthchecks_use_the_ollama_cli_not_curl() -> None:
    found = services()
    for name in ("ollama-gpu", "ollama-cpu"):
        check = found[name]["healthcheck"]
        assert check["test"] == ["CMD", "ollama", "list"]
        assert check["retries"] >= 10 and "start_period" in check
        assert "curl" not in str(check) and "wget" not in str(check)


def test_one_named_volume_holds_the_models_of_both_servers() -> None:
    data, found = load(COMPOSE), services()
    assert set(data["volumes"]) == {"models"}
    mounts = {name: found[name]["volumes"] for name in ("ollama-gpu", "ollama-cpu")}
    assert mounts["ollama-gpu"] == mounts["ollama-cpu"] == ["models:/root/.ollama/models"]
    for name in ("ollama-gpu", "ollama-cpu"):
        env = found[name]["environment"]
        assert env["OLLAMA_NOPRUNE"] == "1"  # a starting server must not prune the other's pull
        assert env["OLLAMA_KEEP_ALIVE"].endswith(":-30m}")
        assert found[name]["restart"] == "unless-stopped"


def test_one_shot_pull_service_goes_through_the_cpu_server() -> None:
    pull = services()["pull"]
    assert pull["profiles"] == ["pull"]  # not started by a plain `up`
    assert pull["entrypoint"] == ["ollama", "pull"]
    assert pull["command"] == ["${OBENCH_MODEL:-llama3.2-vision}"]
    assert pull["environment"]["OLLAMA_HOST"] == "http://ollama-cpu:11434"
    assert pull["depends_on"]["ollama-cpu"]["condition"] == "service_healthy"
    assert pull["restart"] == "no"


def test_cpu_only_variant_moves_the_gpu_server_into_a_profile() -> None:
    override = load(CPU_ONLY)
    assert override == {"services": {"ollama-gpu": {"profiles": ["gpu"]}}}


# -- Compose itself ----------------------------------------------------------------------------


def compose_tools() -> list[list[str]]:
    tools = []
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        tools.append([docker, "compose"])
    if standalone := shutil.which("docker-compose"):
        tools.append([standalone])
    return tools


TOOLS = compose_tools()
needs_compose = pytest.mark.skipif(not TOOLS, reason="no docker compose / docker-compose here")


def config(
    tool: list[str], *files: Path, env: dict[str, str] | None = None, profile: str = ""
) -> dict[str, Any]:
    args = [*tool, "-p", "obench"]
    for file in files:
        args += ["-f", str(file)]
    args += ["--profile", profile] if profile else []
    result = subprocess.run(
        [*args, "config"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    merged = yaml.safe_load(result.stdout)
    assert isinstance(merged, dict)
    return merged


def published(service: dict[str, Any]) -> list[str]:
    """Host ports, from either Compose's short (v1) or long (v2) port syntax."""
    ports = []
    for entry in service["ports"]:
        if isinstance(entry, dict):
            ports.append(f"{entry['host_ip']}:{entry['published']}:{entry['target']}")
        else:
            ports.append(str(entry).removesuffix("/tcp"))
    return ports


@needs_compose
@pytest.mark.parametrize("tool", TOOLS, ids=[" ".join(t) for t in TOOLS])
def test_compose_accepts_and_resolves_the_stack(tool: list[str]) -> None:
    merged = config(tool, COMPOSE, profile="pull")  # v2 leaves inactive profiles out
    found = merged["services"]
    assert published(found["ollama-gpu"]) == ["127.0.0.1:11434:11434"]
    assert published(found["ollama-cpu"]) == ["127.0.0.1:11435:11434"]
    assert found["ollama-cpu"]["environment"]["CUDA_VISIBLE_DEVICES"] == "-1"
    assert found["ollama-gpu"]["environment"]["OLLAMA_NOPRUNE"] == "1"  # the x-env merge worked
    assert found["pull"]["command"] == ["llama3.2-vision"]
    (device,) = found["ollama-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


@needs_compose
@pytest.mark.parametrize("tool", TOOLS, ids=[" ".join(t) for t in TOOLS])
def test_compose_takes_the_documented_variables(tool: list[str]) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "OBENCH_BIND": "0.0.0.0"}
    env |= {"OBENCH_CPU_PORT": "21435", "OBENCH_MODEL": "llama3.2-vision:11b"}
    found = config(tool, COMPOSE, env=env, profile="pull")["services"]
    assert published(found["ollama-cpu"]) == ["0.0.0.0:21435:11434"]
    assert found["pull"]["command"] == ["llama3.2-vision:11b"]


@needs_compose
@pytest.mark.parametrize("tool", TOOLS, ids=[" ".join(t) for t in TOOLS])
def test_compose_merges_the_cpu_only_variant(tool: list[str]) -> None:
    found = config(tool, COMPOSE, CPU_ONLY)["services"]
    # v2 leaves inactive services out of `config`; v1 lists them with their profile.
    gpu = found.get("ollama-gpu")
    assert gpu is None or gpu["profiles"] == ["gpu"]
    assert "profiles" not in found["ollama-cpu"]
