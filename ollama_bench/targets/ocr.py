"""The classic OCR baseline: RapidOCR (PP-OCRv4 on onnxruntime) in this process, no server.

It answers what a camera overlays (cctv: title and time stamp) by reading text boxes and mapping
them to fields (overlay.py), and says before any request when a scenario has nothing it can
read. Inference runs in a worker thread so the event loop, the run's clock and the progress bar
stay live; latency is this client's clock around that call. There are no server timings: they
are None, never 0. The engine is built at the probe, so model loading is not in a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ollama_bench.errors import UsageError
from ollama_bench.models import (
    Placement,
    RequestError,
    RequestSettings,
    TargetInfo,
    TargetSpec,
    TextBox,
    Timing,
)
from ollama_bench.targets.base import Exchange, TargetFailure, server_info
from ollama_bench.targets.overlay import OverlayTask, read_overlays

PACKAGE = "rapidocr_onnxruntime"
INSTALL_HINT = "pip install 'ollama-bench[ocr]' (Python 3.12 or older)"
IN_PROCESS = "in-process"

#: One onnxruntime thread by default: on a small machine shared with servers or other work,
#: intra-op threads that spin while waiting for a core cost more than they bring. Measured on 2
#: cores per cctv frame: idle, 0.28 s with 1 thread and 0.25 s with 2; busy with other work,
#: 0.5–0.76 s with 1 and 1.2–1.4 s with 2. `threads=N` changes it.
DEFAULT_THREADS = 1


def ocr_options(spec: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check `NAME=ocr[,threads=N]` options; the result holds every setting the target uses."""
    unknown = sorted(set(options) - {"threads"})
    if unknown:
        raise UsageError(
            f"target {spec!r}: the OCR target has no option {unknown[0]!r}",
            "its only option is threads=N (onnxruntime intra-op threads)",
        )
    threads = options.get("threads", DEFAULT_THREADS)
    cores = os.cpu_count() or 1
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= cores:
        raise UsageError(
            f"target {spec!r}: threads={threads!r} is not a whole number from 1 to {cores}",
            f"this machine has {cores} cores",
        )
    return {"threads": threads}


def _model_files() -> list[Path]:
    """The ONNX models the engine loads: detection, direction classifier, recognition."""
    import rapidocr_onnxruntime

    return sorted((Path(rapidocr_onnxruntime.__file__).parent / "models").glob("*.onnx"))


def _boxes(result: Any) -> list[TextBox]:
    """RapidOCR's `[[corners, text, score], ...]` (None when it found nothing) as records."""
    return [
        TextBox(
            points=[(float(x), float(y)) for x, y in corners],
            text=str(text),
            confidence=float(score),
        )
        for corners, text, score in result or []
    ]


def _image_size(image: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(image)) as img:
        return img.size


class OcrTarget:
    """An in-process OCR engine answering a scenario's overlay fields."""

    def __init__(
        self, spec: TargetSpec, settings: RequestSettings, task: OverlayTask | None = None
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.task = task
        self.threads = int(spec.options.get("threads", DEFAULT_THREADS))
        self._engine: Any = None
        self._lock = asyncio.Lock()  # one inference at a time: the engine is not re-entrant

    async def __aenter__(self) -> OcrTarget:
        return self

    def companion(self) -> OcrTarget:
        """Itself: the engine reads one frame at a time, so a second one would only wait."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._engine = None

    def _load(self) -> Any:
        from rapidocr_onnxruntime import RapidOCR

        return RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1)

    def _sessions(self) -> list[Any]:
        """The onnxruntime sessions of detection, direction and recognition (1.4.4's layout)."""
        from onnxruntime import InferenceSession

        engine = self._engine
        parts = (engine.text_det, engine.text_cls, engine.text_rec)
        wrappers = [value for part in parts for value in vars(part).values()]
        return [
            w.session for w in wrappers if isinstance(getattr(w, "session", None), InferenceSession)
        ]

    async def probe(self) -> TargetInfo:
        """Can it answer this scenario, is the engine installed, and which models does it run."""
        info = server_info(self.spec)
        task = self.task
        if task is None or not task.mapping:
            scenario = task.scenario if task else "this scenario"
            info.error = (
                f"OCR reads text overlaid on a frame and {scenario} has no overlay to read "
                '(cctv has; a scenario file can add an "ocr" section): left out'
            )
            return info
        try:
            version = metadata.version(PACKAGE)
        except metadata.PackageNotFoundError:
            info.error = f"{PACKAGE} is not installed: {INSTALL_HINT}"
            return info
        try:
            self._engine = await asyncio.to_thread(self._load)
        except Exception as exc:  # a broken install must not stop the other targets
            info.error = f"{PACKAGE} {version} failed to load: {type(exc).__name__}: {exc}"
            return info
        info.reachable = info.model_present = True
        info.version = f"{PACKAGE} {version}"
        sessions = self._sessions()
        info.options["threads"] = sessions[0].get_session_options().intra_op_num_threads
        files = _model_files()
        digest = hashlib.sha256()
        for path in files:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        info.model_digest = digest.hexdigest()  # sha256 of the models' sha256s, by file name
        info.model_size_bytes = sum(path.stat().st_size for path in files)
        runtime = f"onnxruntime {metadata.version('onnxruntime')}"
        info.model_family = (
            ", ".join(p.stem.removesuffix("_infer") for p in files) + f" on {runtime}"
        )
        info.placement = await self.placement()
        if task.unanswered:
            info.warnings.append(
                f"OCR does not answer {', '.join(task.unanswered)}: not scored for {info.name}"
            )
        return info

    async def placement(self) -> Placement:
        """Where the models run, from onnxruntime's execution providers (the CPU in this wheel)."""
        if self._engine is None:
            raise TargetFailure(f"{self.spec.name}: the OCR engine is not loaded")
        providers = {p for s in self._sessions() for p in s.get_providers()}
        size = sum(path.stat().st_size for path in _model_files())
        on_gpu = bool(providers & {"CUDAExecutionProvider", "DmlExecutionProvider"})
        return Placement.of(size, size if on_gpu else 0)

    def _read(self, image: bytes) -> tuple[str, list[TextBox]]:
        """Blocking: recognise, map to fields, encode. Runs in a worker thread."""
        assert self.task is not None and self.task.mapping is not None
        result, _ = self._engine(image)
        boxes = _boxes(result)
        width, height = _image_size(image)
        reply = read_overlays(boxes, self.task.mapping, width, height)
        return json.dumps(reply, ensure_ascii=False), boxes

    async def chat(
        self, prompt: str, image: bytes | None, schema: dict[str, Any] | None
    ) -> Exchange:
        """Read one frame; the prompt and schema are not used (the mapping says what to read)."""
        unanswered = self.task.unanswered if self.task else ()
        reply, boxes, error = "", None, None
        async with self._lock:
            started = time.perf_counter_ns()
            try:
                if self._engine is None:
                    raise RuntimeError("the OCR engine is not loaded (probe it first)")
                if image is None:
                    raise ValueError("OCR reads the image, and none was given")
                async with asyncio.timeout(self.settings.timeout_s):
                    reply, boxes = await asyncio.to_thread(self._read, image)
            except TimeoutError:
                message = f"no reading within {self.settings.timeout_s:g} s"
                error = RequestError(kind="timeout", message=message)
            except Exception as exc:  # an unreadable image is this request's failure, not the run's
                error = RequestError(kind="ocr", message=f"{type(exc).__name__}: {exc}")
            latency_ns = time.perf_counter_ns() - started
        return Exchange(
            reply=reply,
            timing=Timing(latency_ns=latency_ns),
            error=error,
            unanswered=unanswered,
            text_boxes=boxes,
        )
