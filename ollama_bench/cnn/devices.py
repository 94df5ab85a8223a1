"""Which devices torch can use here, why the others are skipped, and how many CPU cores to use."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from ollama_bench.cnn.records import DeviceInfo
from ollama_bench.errors import UsageError


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores from /proc/cpuinfo (SMT siblings counted once), capped by the affinity."""
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "physical id":
                physical = value.strip()
            elif key.strip() == "core id":
                core = value.strip()
                cores.add((physical, core))
    except OSError:
        pass
    return min(len(cores), usable_cpus()) if cores else usable_cpus()


def _cuda_reason() -> str:
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return "not available (torch built without CUDA)"
    return "not available (torch has CUDA, but no GPU or driver was found)"


def _mps_reason() -> str:
    if not torch.backends.mps.is_built():
        return "not available (torch built without MPS; Apple silicon macOS only)"
    return "not available (MPS built in, but this machine has no usable Metal device)"


def detect() -> list[DeviceInfo]:
    """The CPU always; every CUDA device; MPS: each with its name, or the reason it is skipped."""
    found = [DeviceInfo(name="cpu", available=True, description=cpu_model())]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            name = torch.cuda.get_device_name(index)
            found.append(DeviceInfo(name=f"cuda:{index}", available=True, description=name))
    else:
        found.append(DeviceInfo(name="cuda", available=False, reason=_cuda_reason()))
    if torch.backends.mps.is_available():
        found.append(DeviceInfo(name="mps", available=True, description="Apple Metal GPU"))
    else:
        found.append(DeviceInfo(name="mps", available=False, reason=_mps_reason()))
    return found


def choose(requested: list[str] | None, found: list[DeviceInfo]) -> list[str]:
    """Device names to measure: every available one by default, or exactly those requested.

    `cuda` means `cuda:0`; an unavailable or unknown request is a UsageError naming the reason.
    """
    available = [d.name for d in found if d.available]
    if not requested:
        return [n for n in available if not n.startswith("cuda:") or n == "cuda:0"]
    chosen: list[str] = []
    for raw in requested:
        name = "cuda:0" if raw == "cuda" else raw
        if name in available:
            if name not in chosen:
                chosen.append(name)
            continue
        reasons = [d.reason for d in found if d.name == name.split(":")[0] and d.reason]
        why = reasons[0] if reasons else "unknown device"
        raise UsageError(
            f"device {raw!r}: {why}", f"available here: {', '.join(available)} (--devices)"
        )
    return chosen


def synchronize(device: torch.device) -> None:
    """Wait for queued work on an accelerator, so that a clock read after it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
