"""Checks before the first request, so that a run never measures what it cannot judge.

Errors stop the run with exit 2 before anything is sent: an image that does not decode as a
format Ollama reads (vision/imaging.py), a label that does not fit the scenario's reply model or
schema (it would score 0% without a word). Notices are printed before the run and come back in
the summary, computed again from the run file's header: very large images, labels naming files
that are not there, images without a label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ollama_bench.errors import UsageError
from ollama_bench.models import ImageInfo
from ollama_bench.vision.imaging import LARGE_BYTES, LARGE_SIDE_PX, MODEL_SIDE_PX
from ollama_bench.vision.scenarios import Scenario

LISTED = 5  # names shown in a notice before "…"


@dataclass(frozen=True)
class Notice:
    code: str
    message: str
    hint: str = ""


def check(scenario: Scenario) -> list[Notice]:
    """Raise UsageError for an image or label that cannot be used; return what to warn about."""
    for image in scenario.images:
        image.picture  # noqa: B018  (decodes the file; raises UsageError naming it)
    for name, label in scenario.labels.items():
        errors = scenario.label_errors(label)
        if errors:
            where = f"field {errors[0].path}" if errors[0].path else "the label"
            raise UsageError(
                f"{scenario.labels_file}: {name}: {where}: {errors[0].message}",
                "each label is the reply expected for its image, so it must fit the "
                "scenario's schema",
            )
    return input_notices([image.info() for image in scenario.images], scenario.labels)


def _names(names: Sequence[str]) -> str:
    return ", ".join(names[:LISTED]) + (", …" if len(names) > LISTED else "")


def _size(size_bytes: int) -> str:
    """`812 KiB`, `12.3 MiB`."""
    if size_bytes < 2**20:
        return f"{size_bytes / 2**10:.0f} KiB"
    return f"{size_bytes / 2**20:.1f} MiB"


def input_notices(images: Sequence[ImageInfo], labels: Mapping[str, Any]) -> list[Notice]:
    """Large images (as sent), labels for files that are not there, images without a label."""
    found = []
    for info in images:
        width = info.sent_width_px or info.width_px
        height = info.sent_height_px or info.height_px
        size_bytes = info.sent_size_bytes or info.size_bytes
        if width is None or height is None:
            continue  # a run file from before images were measured
        if max(width, height) > LARGE_SIDE_PX or size_bytes > LARGE_BYTES:
            found.append(
                Notice(
                    "large-image",
                    f"{info.name} is {width}×{height} px ({_size(size_bytes)}): the model "
                    f"looks at {MODEL_SIDE_PX} px at most, so the rest only adds upload and "
                    "resizing to every request, which blurs the speed-up",
                    f"--max-image-side {MODEL_SIDE_PX} sends a downsized copy",
                )
            )
    if not labels:
        return found
    names = [info.name for info in images]
    missing = sorted(set(labels) - set(names))
    if missing:
        files = "1 file that is" if len(missing) == 1 else f"{len(missing)} files that are"
        found.append(
            Notice(
                "missing-images",
                f"labels.json names {files} not there: {_names(missing)}",
                "check the file names; those labels are not used",
            )
        )
    unlabelled = [name for name in names if name not in labels]
    if unlabelled:
        has = "has" if len(unlabelled) == 1 else "have"
        found.append(
            Notice(
                "unlabelled",
                f"{len(unlabelled)} of {len(names)} images {has} no label "
                f"({_names(unlabelled)}): accuracy rests on the other "
                f"{len(names) - len(unlabelled)}",
                "add them to labels.json",
            )
        )
    return found
