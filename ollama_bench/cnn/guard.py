"""The import guard: torch and scikit-learn are an optional extra, so say how to get them."""

from __future__ import annotations

import importlib

from ollama_bench.errors import UsageError

INSTALL_HINT = (
    "pip install 'ollama-bench[cnn]' (on CI or CPU-only machines first pip install torch==2.13.0, "
    "the CPU wheel)"
)
PLOT_HINT = "pip install 'ollama-bench[plot]'"


def missing(*modules: str) -> list[str]:
    """The modules among `modules` that cannot be imported."""
    absent = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    return absent


def require(*modules: str, hint: str = INSTALL_HINT) -> None:
    """Raise a one-line UsageError naming what is missing and how to install it."""
    absent = missing(*modules)
    if absent:
        names = " and ".join(absent)
        verb = "is" if len(absent) == 1 else "are"
        raise UsageError(f"obench cnn needs {names}, which {verb} not installed: {hint}")
