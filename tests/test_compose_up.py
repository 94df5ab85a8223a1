"""obench up / down: which compose runs, with which files, and what the user is told.

Stand-in `docker`, `docker-compose` and `nvidia-smi` executables on a PATH of their own record
their arguments; the servers obench then waits for are protocol-faithful Ollama test servers.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_ollama import FakeOllama
from typer.testing import CliRunner, Result

from ollama_bench.cli import app
from ollama_bench.ops import stack

Make = Callable[..., FakeOllama]
ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tools:
    """A PATH holding only the stand-ins this test puts there; each logs its argv as JSON."""

    def __init__(self, folder: Path) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir()
        self.log = folder / "calls.jsonl"

    def add(self, name: str, *, exit_code: int = 0, stderr: str = "", compose: bool = True) -> None:
        """A stand-in; `docker` answers `compose version` unless compose=False."""
        plugin = "" if compose or name != "docker" else 'if [ "$1" = compose ]; then exit 1; fi\n'
        script, message = self.bin / name, self.bin.parent / f"{name}.stderr"
        message.write_text(stderr)
        script.write_text(
            "#!/bin/sh\n"
            f"{plugin}"
            f"{sys.executable} -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "
            f'{name} "$@" >> {self.log}\n'
            f'if [ "$2" = version ]; then exit 0; fi\n'
            f"/bin/cat {message} >&2\n"
            f"exit {exit_code}\n"
        )
        script.chmod(0o755)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tools]:
    found = Tools(tmp_path)
    monkeypatch.setenv("PATH", str(found.bin))
    yield found


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_missing_docker_is_one_line_saying_how_to_run_ollama_without_it(tools: Tools) -> None:
    result = run("up")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "error: obench up/down need Docker Compose: Docker is not installed" in text
    assert "OLLAMA_HOST=127.0.0.1:11435 CUDA_VISIBLE_DEVICES=-1 ollama serve" in text
    assert "Traceback" not in text


def test_docker_without_the_compose_plugin_is_named(tools: Tools) -> None:
    tools.add("docker", compose=False)
    result = run("down")
    assert result.exit_code == 2
    assert "the Docker Compose plugin is missing" in result.output


def test_plugin_is_preferred_and_gpu_stack_starts_where_nvidia_smi_is(
    tools: Tools, fake_ollama: Make
) -> None:
    tools.add("docker")
    tools.add("docker-compose")
    tools.add("nvidia-smi")
    gpu, cpu = fake_ollama(), fake_ollama(models=[])
    result = run("up", "-t", f"gpu={gpu.url}", "-t", f"cpu={cpu.url}", "--timeout", "5")
    assert result.exit_code == 0, result.output
    compose = [c for c in tools.calls() if c[:2] == ["docker", "compose"] and "up" in c]
    assert compose == [
        ["docker", "compose", "-p", "obench", "-f", str(ROOT / "compose.yaml"), "up", "--detach"]
    ]
    out = result.stdout
    assert f"✓ gpu {gpu.url} · Ollama 0.24.0 · llama3.2-vision ready" in out
    assert f"✓ cpu {cpu.url} · Ollama 0.24.0 · llama3.2-vision not pulled yet" in out


def test_without_nvidia_the_cpu_only_override_is_added_and_gpu_not_awaited(
    tools: Tools, fake_ollama: Make
) -> None:
    tools.add("docker-compose")
    cpu = fake_ollama()
    never = f"http://127.0.0.1:{closed_port()}"
    result = run("up", "-t", f"gpu={never}", "-t", f"cpu={cpu.url}", "--timeout", "5")
    assert result.exit_code == 0, result.output
    (call,) = tools.calls()
    assert call == [
        "docker-compose",
        "-p",
        "obench",
        "-f",
        str(ROOT / "compose.yaml"),
        "-f",
        str(ROOT / "compose.cpu-only.yaml"),
        "up",
        "--detach",
    ]
    assert "starting the CPU server only" in result.output
    assert "✓ cpu" in result.stdout and "gpu" not in result.stdout


def test_gpu_flag_forces_the_gpu_stack(tools: Tools, fake_ollama: Make) -> None:
    tools.add("docker-compose")
    server = fake_ollama()
    result = run("up", "--gpu", "-t", f"gpu={server.url}", "--timeout", "5")
    assert result.exit_code == 0, result.output
    assert str(ROOT / "compose.cpu-only.yaml") not in tools.calls()[0]


def test_a_host_that_cannot_give_a_gpu_gets_the_cpu_only_hint(tools: Tools) -> None:
    message = (
        "Error response from daemon: could not select device driver "
        '"nvidia" with capabilities: [[gpu]]'
    )
    tools.add("docker-compose", exit_code=1, stderr=message)
    result = run("up", "--gpu")
    assert result.exit_code == 3
    text = " ".join(result.output.split())
    assert "docker-compose up failed: Error response from daemon" in text
    assert "obench up --cpu-only" in text


def test_an_engine_that_is_not_running_is_a_missing_docker(tools: Tools) -> None:
    tools.add(
        "docker-compose",
        exit_code=1,
        stderr="Couldn't connect to Docker daemon at http+docker://localhost - is it running?",
    )
    result = run("up", "--cpu-only")
    assert result.exit_code == 2
    assert "start the Docker engine" in result.output


def test_a_docker_cli_without_an_engine_stops_before_compose(tools: Tools) -> None:
    tools.add(
        "docker",
        exit_code=1,
        stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?",
    )
    result = run("up", "--cpu-only")
    assert result.exit_code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: no Docker engine answers: Cannot connect to the Docker daemon")
    assert "ollama serve" in line
    assert not any("up" in call for call in tools.calls())  # compose never ran


def test_compose_1_without_an_engine_is_a_missing_docker(tools: Tools) -> None:
    tools.add(
        "docker-compose",
        exit_code=1,
        stderr="docker.errors.DockerException: Error while fetching server API version: "
        "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))",
    )
    result = run("up", "--cpu-only")
    assert result.exit_code == 2
    assert "start the Docker engine" in result.output


def test_a_server_that_never_answers_fails_after_the_timeout(tools: Tools) -> None:
    tools.add("docker-compose")
    never = f"http://127.0.0.1:{closed_port()}"
    result = run("up", "--cpu-only", "-t", f"cpu={never}", "--timeout", "1")
    assert result.exit_code == 3
    assert "cpu did not answer within 1 s" in result.output
    assert "docker compose -p obench logs" in " ".join(result.output.split())


def test_down_stops_every_service_and_deletes_models_only_when_asked(tools: Tools) -> None:
    tools.add("docker-compose")
    assert run("down").exit_code == 0
    assert run("down", "--volumes").exit_code == 0
    keep, wipe = tools.calls()
    base = ["docker-compose", "-p", "obench", "-f", str(ROOT / "compose.yaml")]
    assert keep == [*base, "--profile", "pull", "down", "--remove-orphans"]
    assert wipe == [*keep, "--volumes"]


def test_file_option_replaces_the_bundled_compose_file(tools: Tools, tmp_path: Path) -> None:
    tools.add("docker-compose")
    mine = tmp_path / "mine.yaml"
    mine.write_text("services: {}\n")
    assert run("down", "--file", str(mine)).exit_code == 0
    assert tools.calls()[0][3:5] == ["-f", str(mine)]
    missing = run("down", "--file", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    assert "nope.yaml does not exist" in missing.output


def test_bundled_compose_file_is_found_from_the_source_tree() -> None:
    assert stack.bundled_compose_file() == ROOT / "compose.yaml"
    files = stack.compose_files(None, "cpu-only")
    assert files == [ROOT / "compose.yaml", ROOT / "compose.cpu-only.yaml"]


def test_compose_command_falls_back_to_the_standalone_tool() -> None:
    paths = {"docker": "/x/docker", "docker-compose": "/x/docker-compose"}

    class NoPlugin:
        returncode = 1

    command = stack.compose_command(which=paths.get, run=lambda *a, **k: NoPlugin())
    assert command == ["/x/docker-compose"]
    assert stack.default_variant(which=lambda name: None) == "cpu-only"
    assert stack.default_variant(which={"nvidia-smi": "/x/nvidia-smi"}.get) == "gpu"


def test_up_help_documents_exit_codes() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    for command in ("up", "down"):
        result = CliRunner().invoke(app, [command, "--help"], env=env)
        assert "Exit codes: 0" in result.stdout
        assert "2 " in result.stdout and "3 compose failed" in result.stdout
