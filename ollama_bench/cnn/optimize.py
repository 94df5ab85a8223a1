"""Inference optimisations: which exist, which are on by default, and applying them to a model.

On by default, because they change no result beyond float rounding and cost nothing up front:
`channels_last` (NHWC tensors, which oneDNN and cuDNN convolve without reordering) and
`keep_heap` (glibc malloc keeps freed memory, so each call's activations reuse pages instead of
page-faulting fresh ones). Asked for: `compile` (torch.compile, inductor), which needs a C compiler
and compiles for seconds per batch size, and `freeze`, the same with weights frozen as constants.
"""

from __future__ import annotations

import copy
import ctypes
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ollama_bench.errors import UsageError

KNOWN = {
    "channels_last": "NHWC memory layout for weights and inputs",
    "keep_heap": "glibc malloc keeps freed memory for reuse (mallopt; Linux only)",
    "compile": "torch.compile (inductor), one static graph per batch size",
    "freeze": "torch.compile with inductor freezing (weights folded as constants, conv+bn fused)",
}
DEFAULT = ("channels_last", "keep_heap")

#: mallopt parameters: allocations up to 32 MiB (glibc's maximum) come from the heap, and up to
#: 1 GiB of freed heap stays with the process, 512 MiB padding each time the heap grows.
#: PyTorch's CPU tuning guide gets the same effect by preloading jemalloc or tcmalloc.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
HEAP_SETTINGS = ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 512 << 20))

Forward = Callable[[torch.Tensor], torch.Tensor]


def parse(text: str) -> tuple[str, ...]:
    """`channels_last,compile` → ("channels_last", "compile"); `none` or "" → ()."""
    names = tuple(n.strip() for n in text.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise UsageError(
            f"unknown optimisation {', '.join(unknown)}",
            f"choose from {', '.join(KNOWN)} or none (--opt)",
        )
    if "compile" in names and "freeze" in names:
        raise UsageError("--opt compile and freeze exclude each other", "pick one")
    return names


@dataclass(frozen=True)
class Prepared:
    """A model ready on its device, the layout its inputs need, and what was applied."""

    forward: Forward
    memory_format: torch.memory_format
    applied: tuple[str, ...]

    def place(self, batch: torch.Tensor, device: torch.device) -> torch.Tensor:
        return batch.to(device).contiguous(memory_format=self.memory_format)


def keep_heap() -> bool:
    """Apply HEAP_SETTINGS to this process's glibc malloc; False where there is no glibc.

    Peak memory is unchanged (the activations need it anyway); freed memory is kept for the
    next call instead of being returned to the OS and faulted back in, page by page.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in HEAP_SETTINGS)


def _compile(module: nn.Module, device: torch.device, freeze: bool) -> Forward:
    if device.type == "cpu" and shutil.which("cc") is None and shutil.which("gcc") is None:
        raise UsageError(
            "--opt compile needs a C compiler on the CPU and none was found",
            "install gcc, or leave compile out of --opt",
        )
    import torch._dynamo.config
    import torch._inductor.config

    torch._dynamo.config.recompile_limit = 64  # one static graph per batch size and thread count
    torch._inductor.config.freezing = freeze
    with warnings.catch_warnings():
        # inductor imports torch.utils.mkldnn, which trips torch's own TorchScript deprecation
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*", category=DeprecationWarning)
        import torch._inductor.compile_fx
    compiled: Forward = torch.compile(module, dynamic=False)
    return compiled


def prepare(module: nn.Module, device: torch.device, optimizations: tuple[str, ...]) -> Prepared:
    """A copy of `module` in eval mode on `device` with the optimisations it supports there.

    channels_last is skipped on MPS, whose convolutions are not faster with it.
    """
    model = copy.deepcopy(module).eval().to(device)
    memory_format = torch.contiguous_format
    applied: list[str] = []
    if "channels_last" in optimizations and device.type != "mps":
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        memory_format = torch.channels_last
        applied.append("channels_last")
    if "keep_heap" in optimizations and device.type == "cpu" and keep_heap():
        applied.append("keep_heap")
    forward: Forward = model
    for name in ("compile", "freeze"):
        if name in optimizations:
            forward = _compile(model, device, freeze=name == "freeze")
            applied.append(name)
    return Prepared(forward, memory_format, tuple(applied))
