"""The import guard: torch and scikit-learn are an optional extra, so say how to get them."""

from __future__ import annotations

import importlib
import importlib.util

from ollama_bench.errors import UsageError

INSTALL_HINT = (
    "pip install 'ollama-bench[cnn]' (on CI or CPU-only machines first pip install torch==2.13.0, "
    "the CPU wheel)"
)
PLOT_HINT = "pip install 'ollama-bench[plot]'"
PACKAGES = {"sklearn": "scikit-learn"}  # import name → what pip installs


def missing(*modules: str) -> list[str]:
    """The modules among `modules` that are not installed; none of them is imported."""
    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent.append(name)
    return absent


def require(*modules: str, hint: str = INSTALL_HINT) -> None:
    """Raise a one-line UsageError naming what is missing or broken and how to install it."""
    absent = missing(*modules)
    if absent:
        names = " and ".join(PACKAGES.get(name, name) for name in absent)
        verb = "is" if len(absent) == 1 else "are"
        raise UsageError(f"obench cnn needs {names}, which {verb} not installed: {hint}")
    if "torch" in modules:  # installed but broken (a missing shared library, say): no traceback
        try:
            importlib.import_module("torch")
        except Exception as exc:
            raise UsageError(f"torch is installed but cannot be imported ({exc}): {hint}") from None
