"""The only code that speaks to model servers.

`base.py` is what the rest of obench sees (the `Target` protocol, `Exchange`, `TargetFailure`),
`spec.py` parses `--target`, `auth.py` gives the headers every call carries (credentials,
--header, API keys), and each API has its module (`ollama.py`, `openai.py` for OpenAI-compatible
servers; `ocr.py`, the in-process OCR baseline, with `overlay.py` mapping what it reads to
fields). `open_target` picks the module for a target (`api=` in its spec, or `NAME=ocr`).
"""

from __future__ import annotations

from ollama_bench.models import RequestSettings, TargetSpec
from ollama_bench.targets.base import Target
from ollama_bench.targets.overlay import OverlayTask


def open_target(
    spec: TargetSpec, settings: RequestSettings, overlays: OverlayTask | None = None
) -> Target:
    """The client for this target's API; use it as an async context manager.

    `overlays` tells an OCR target what the scenario asks and where its overlays are.
    """
    if spec.api == "ocr":
        from ollama_bench.targets.ocr import OcrTarget

        return OcrTarget(spec, settings, overlays)
    if spec.api == "openai":
        from ollama_bench.targets.openai import OpenAITarget

        return OpenAITarget(spec, settings)
    from ollama_bench.targets.ollama import OllamaTarget

    return OllamaTarget(spec, settings)
