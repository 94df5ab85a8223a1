"""Scenarios: a prompt, a set of images, the reply's schema, ground truth and field scorers.

Built-in ones (`cctv`, `products`) validate with pydantic models; a user scenario file (JSON)
brings its own JSON Schema. Nothing here talks to the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ollama_bench.errors import UsageError
from ollama_bench.models import FieldError, ImageInfo
from ollama_bench.targets.overlay import OverlayField, OverlayTask
from ollama_bench.vision.imaging import (
    OLLAMA_FORMATS,
    Picture,
    inspect,
    resize_longest_side,
)
from ollama_bench.vision.scoring import FieldScorer

#: Formats Ollama v0.24 decodes (JPEG, PNG, BMP, TIFF, WebP); GIF is not among them.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


def data_path(name: str) -> Path:
    """A bundled data folder (`prompts`, `images`): inside the wheel, else the source tree."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise UsageError(f"bundled folder {name!r} not found next to {package}", "reinstall obench")


@dataclass(frozen=True)
class ImageInput:
    """One image file to send; its bytes are read once and never written to a run file.

    With `max_side_px`, a larger image is sent as a copy downsized to that longest side.
    """

    name: str
    path: Path
    max_side_px: int | None = None

    @cached_property
    def original(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read image {self.path}: {exc.strerror}") from None

    @cached_property
    def picture(self) -> Picture:
        """What the file holds; a UsageError naming it when Ollama could not decode it."""
        try:
            picture = inspect(self.original)
        except ValueError as exc:
            raise UsageError(
                f"image {self.path} does not decode ({exc})", "replace or remove the file"
            ) from None
        if picture.format not in OLLAMA_FORMATS:
            raise UsageError(
                f"image {self.path} is a {picture.format} file, which Ollama cannot decode",
                "convert it to JPEG, PNG, BMP, TIFF or WebP",
            )
        return picture

    @property
    def resized(self) -> bool:
        return self.max_side_px is not None and self.picture.longest_side_px > self.max_side_px

    @cached_property
    def data(self) -> bytes:
        """The bytes sent: the file's, or its downsized copy."""
        if self.max_side_px is not None and self.resized:
            return resize_longest_side(self.original, self.max_side_px)
        return self.original

    @cached_property
    def sha256(self) -> str:
        """Of the bytes sent."""
        return hashlib.sha256(self.data).hexdigest()

    def info(self) -> ImageInfo:
        picture = self.picture
        info = ImageInfo(
            name=self.name,
            sha256=hashlib.sha256(self.original).hexdigest(),
            size_bytes=len(self.original),
            format=picture.format,
            width_px=picture.width_px,
            height_px=picture.height_px,
        )
        if self.resized:
            sent = inspect(self.data)
            info.sent_sha256, info.sent_size_bytes = self.sha256, len(self.data)
            info.sent_width_px, info.sent_height_px = sent.width_px, sent.height_px
        return info


@dataclass(frozen=True)
class Scenario:
    name: str
    prompt: str
    schema: dict[str, Any]  # sent as Ollama's `format` unless --no-format
    validate: Callable[[Any], list[FieldError]]
    scorers: Callable[[Mapping[str, Any]], Mapping[str, FieldScorer]]  # label → field scorers
    images: list[ImageInput] = field(default_factory=list)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    ocr: dict[str, OverlayField] | None = None  # field → overlay: what an OCR target can read
    # label keys that are not part of the expected reply (products: "facts"), each with a check
    # returning what is wrong with its value, or None
    label_extras: Mapping[str, Callable[[Any], str | None]] = field(default_factory=dict)

    @property
    def prompt_sha256(self) -> str:
        return hashlib.sha256(self.prompt.encode()).hexdigest()

    @property
    def labels_file(self) -> Path | None:
        """Where the labels were read from (`labels.json` beside the images)."""
        return self.images[0].path.parent / "labels.json" if self.images else None

    def with_max_image_side(self, side_px: int | None) -> Scenario:
        """The same scenario sending images larger than `side_px` as downsized copies."""
        images = [dataclasses.replace(image, max_side_px=side_px) for image in self.images]
        return dataclasses.replace(self, images=images)

    def label_errors(self, label: Mapping[str, Any]) -> list[FieldError]:
        """What keeps `label` from being a reply this scenario accepts, its extras checked apart."""
        reply = {k: v for k, v in label.items() if k not in self.label_extras}
        errors = self.validate(reply)
        for key, check in self.label_extras.items():
            if key in label and (why := check(label[key])) is not None:
                errors.append(FieldError(path=key, message=why))
        return errors

    def overlay_task(self) -> OverlayTask:
        """What an OCR target is asked: the reply's top-level fields and where they are overlaid."""
        properties = self.schema.get("properties")
        fields = tuple(properties) if isinstance(properties, dict) else ()
        return OverlayTask(scenario=self.name, fields=fields, mapping=self.ocr)


def load_images(directory: Path) -> tuple[list[ImageInput], dict[str, dict[str, Any]]]:
    """Images of a folder (sorted by name) and its optional `labels.json` (file name → reply)."""
    if not directory.is_dir():
        raise UsageError(
            f"image folder {directory} does not exist", "pass --images DIR with images in it"
        )
    images = [
        ImageInput(name=p.name, path=p)
        for p in sorted(directory.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise UsageError(f"no images in {directory}", f"put {kinds} files there")
    labels_file = directory / "labels.json"
    if not labels_file.exists():
        return images, {}
    try:
        labels = json.loads(labels_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{labels_file}:{exc.lineno}: invalid JSON ({exc.msg})", "fix the file or remove it"
        ) from None
    if not isinstance(labels, dict) or not all(isinstance(v, dict) for v in labels.values()):
        raise UsageError(
            f"{labels_file} must map each image file name to the expected reply object",
            'e.g. {"frame1.jpg": {"title": "...", "traffic_level": 40}}',
        )
    return images, labels


def read_prompt(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"cannot read prompt file {path}: {exc.strerror}") from None
    if not text:
        raise UsageError(f"prompt file {path} is empty")
    return text


def builtin_names() -> list[str]:
    from ollama_bench.vision.scenarios.builtin import BUILTINS

    return sorted(BUILTINS)


def load_scenario(name_or_file: str, images_dir: Path | None = None) -> Scenario:
    """A built-in scenario by name, or a user scenario from a JSON file; `images_dir` overrides."""
    from ollama_bench.vision.scenarios.builtin import BUILTINS, load_builtin
    from ollama_bench.vision.scenarios.custom import load_custom

    if name_or_file in BUILTINS:
        return load_builtin(name_or_file, images_dir)
    path = Path(name_or_file)
    if path.suffix == ".json" or path.is_file():
        return load_custom(path, images_dir)
    raise UsageError(
        f"unknown scenario {name_or_file!r}",
        f"use one of {', '.join(sorted(BUILTINS))} or the path of a scenario .json file",
    )
