"""`obench up` / `obench down`: the two-server stack of compose.yaml, through Docker Compose.

Compose runs as a subprocess (the `docker compose` plugin, else the standalone `docker-compose`)
with its output passed through, so image pulls show; obench then waits until the servers answer
`/api/version`. Without Docker the error says how to run the same two servers with `ollama serve`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from ollama_bench.errors import NoTargetError, UsageError
from ollama_bench.models import RequestSettings, TargetInfo, TargetSpec
from ollama_bench.ops.doctor import role_of
from ollama_bench.targets import open_target

PROJECT = "obench"  # -p on every call: the same stack whatever folder compose.yaml is in
COMPOSE_FILE = "compose.yaml"
CPU_ONLY_FILE = "compose.cpu-only.yaml"  # moves the GPU server into a profile nobody starts
POLL_S = 1.0
WITHOUT_DOCKER = (
    "without Docker run the servers yourself: `ollama serve` (GPU, port 11434) and "
    "`OLLAMA_HOST=127.0.0.1:11435 CUDA_VISIBLE_DEVICES=-1 ollama serve` (CPU, port 11435)"
)

Variant = Literal["gpu", "cpu-only"]
Which = Callable[[str], str | None]


class DockerMissing(UsageError):
    """Docker, its compose plugin, or its engine is not there (exit 2)."""


class StackError(NoTargetError):
    """Compose failed, or the servers did not answer in time (exit 3)."""


def bundled_compose_file() -> Path:
    """compose.yaml inside the wheel, else at the top of the source tree."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_data" / COMPOSE_FILE, package.parent / COMPOSE_FILE):
        if candidate.is_file():
            return candidate
    raise UsageError(f"{COMPOSE_FILE} not found next to {package}", "pass --file PATH")


def compose_files(file: Path | None, variant: Variant) -> list[Path]:
    """The -f files: compose.yaml (or --file), plus the CPU-only override beside it if asked."""
    base = file if file is not None else bundled_compose_file()
    if not base.is_file():
        raise UsageError(f"compose file {base} does not exist", "pass an existing --file")
    if variant == "gpu":
        return [base]
    override = base.parent / CPU_ONLY_FILE
    if not override.is_file():
        raise UsageError(f"{override} does not exist", f"put {CPU_ONLY_FILE} beside {base.name}")
    return [base, override]


def compose_command(
    which: Which = shutil.which,
    run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run,
) -> list[str]:
    """`docker compose` if the plugin answers, else `docker-compose`; DockerMissing otherwise."""
    docker = which("docker")
    if docker and run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if standalone := which("docker-compose"):
        return [standalone]
    what = "the Docker Compose plugin is missing" if docker else "Docker is not installed"
    raise DockerMissing(f"obench up/down need Docker Compose: {what}", WITHOUT_DOCKER)


def require_engine(
    which: Which = shutil.which,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> None:
    """One line, early, when the Docker CLI is there but no engine answers it.

    Compose would otherwise say it itself, at length (docker-compose 1.x prints a traceback).
    """
    docker = which("docker")
    if docker is None:
        return  # a standalone docker-compose says so in its own words; _diagnose reads them
    result = run(
        [docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    )
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr or "").splitlines() if line.strip()]
        why = lines[-1] if lines else f"docker version exited {result.returncode}"
        raise DockerMissing(
            f"no Docker engine answers: {why}", "start the Docker engine, or " + WITHOUT_DOCKER
        )


def default_variant(which: Which = shutil.which) -> Variant:
    """The GPU stack where NVIDIA's driver tools are installed, else the CPU-only one."""
    return "gpu" if which("nvidia-smi") else "cpu-only"


def compose_argv(command: Sequence[str], files: Sequence[Path], *args: str) -> list[str]:
    argv = [*command, "-p", PROJECT]
    for file in files:
        argv += ["-f", str(file)]
    return [*argv, *args]


def _diagnose(tail: str) -> tuple[type[UsageError] | type[StackError], str]:
    lowered = tail.lower()
    no_engine = "fetching server api version" in lowered  # docker-compose 1.x, no engine
    if no_engine or ("daemon" in lowered and ("connect" in lowered or "running" in lowered)):
        return DockerMissing, "start the Docker engine, or " + WITHOUT_DOCKER
    if "nvidia" in lowered or "could not select device driver" in lowered:
        return StackError, (
            "this host cannot give containers an NVIDIA GPU (no NVIDIA Container Toolkit?): "
            "install it, or run obench up --cpu-only"
        )
    return StackError, "see compose's messages above"


def run_compose(argv: Sequence[str]) -> None:
    """Run compose with its output shown; on failure raise with its last line and a hint."""
    tail: deque[str] = deque(maxlen=5)
    env = {**os.environ, "COMPOSE_ANSI": os.environ.get("COMPOSE_ANSI", "never")}
    try:
        with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env) as process:
            assert process.stderr is not None
            for line in process.stderr:
                sys.stderr.write(line)
                if line.strip():
                    tail.append(line.strip())
            code = process.wait()
    except OSError as exc:
        raise DockerMissing(f"cannot run {argv[0]}: {exc.strerror}", WITHOUT_DOCKER) from None
    if code != 0:
        last = tail[-1] if tail else f"exit status {code}"
        error, hint = _diagnose(" ".join(tail))
        tool = Path(argv[0]).name + (" compose" if argv[1:2] == ["compose"] else "")
        raise error(f"{tool} {_verb(argv)} failed: {last}", hint)


def _verb(argv: Sequence[str]) -> str:
    return next((a for a in argv if a in ("up", "down")), "")


def stack_targets(specs: Sequence[TargetSpec], variant: Variant) -> list[TargetSpec]:
    """The servers a variant starts: the CPU-only stack has no GPU server to wait for."""
    return [s for s in specs if variant == "gpu" or role_of(s.name) != "gpu"]


async def wait_ready(
    specs: Sequence[TargetSpec], settings: RequestSettings, timeout_s: float
) -> list[TargetInfo]:
    """Probe until every server answers `/api/version`; StackError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    targets = [open_target(spec, settings) for spec in specs]
    try:
        while True:
            infos = list(await asyncio.gather(*(t.probe() for t in targets)))
            late = [i.name for i in infos if not i.reachable]
            if not late:
                return infos
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{', '.join(late)} did not answer within {timeout_s:g} s",
                    f"see the server's log: docker compose -p {PROJECT} logs",
                )
            await asyncio.sleep(POLL_S)
    finally:
        for target in targets:
            await target.__aexit__(None, None, None)


def up(
    specs: Sequence[TargetSpec],
    settings: RequestSettings,
    *,
    file: Path | None,
    variant: Variant,
    timeout_s: float,
) -> list[TargetInfo]:
    """Start the stack detached, then wait for its servers; returns what each one runs."""
    files = compose_files(file, variant)
    command = compose_command()
    require_engine()
    run_compose(compose_argv(command, files, "up", "--detach"))
    return asyncio.run(wait_ready(stack_targets(specs, variant), settings, timeout_s))


def down(*, file: Path | None, volumes: bool) -> None:
    """Stop and remove the stack's containers (and, with `volumes`, the downloaded models)."""
    files = compose_files(file, "gpu")
    args = ["--profile", "pull", "down", "--remove-orphans", *(["--volumes"] if volumes else [])]
    command = compose_command()
    require_engine()
    run_compose(compose_argv(command, files, *args))
