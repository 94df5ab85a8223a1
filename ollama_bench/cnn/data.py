"""Training data: scikit-learn's digits (shipped with it, no download) or a folder per class.

Both become float tensors with a fixed, seeded, per-class split, so runs are reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ollama_bench.errors import UsageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TEST_SHARE = 0.25


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: torch.Tensor  # (n, channels, height, width), float32 in [0, 1]
    y_train: torch.Tensor  # (n,) int64 class indices
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])


def _split(labels: list[int], seed: int) -> tuple[list[int], list[int]]:
    """Indices of a per-class (stratified) split: a quarter of each class, at least one, to test."""
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    rng = random.Random(seed)
    train, test = [], []
    for indices in by_class.values():
        rng.shuffle(indices)
        cut = max(1, round(len(indices) * TEST_SHARE))
        test += indices[:cut]
        train += indices[cut:]
    return sorted(train), sorted(test)


def _dataset(name: str, x: torch.Tensor, y: list[int], classes: list[str], seed: int) -> Dataset:
    train, test = _split(y, seed)
    labels = torch.tensor(y, dtype=torch.int64)
    return Dataset(name, x[train], labels[train], x[test], labels[test], classes)


def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 8×8 digits, pixel values 0–16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return _dataset(
        "sklearn digits 8×8", x, [int(t) for t in bunch.target], list("0123456789"), seed
    )


def _load_image(path: Path, size: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size))
    except (OSError, UnidentifiedImageError) as exc:
        raise UsageError(f"cannot read image {path}: {exc}; remove or replace it") from None
    pixels = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
    return pixels.reshape(size, size, 3).permute(2, 0, 1).float() / 255.0


def image_folder(root: Path, size: int = 64, seed: int = 0) -> Dataset:
    """One sub-folder per class, images inside (any Pillow format), resized to size × size."""
    if not root.is_dir():
        raise UsageError(f"data folder {root} does not exist (--data wants one folder per class)")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = {
        f.name: sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for f in folders
    }
    files = {name: paths for name, paths in files.items() if paths}
    if len(files) < 2:
        found = f"{len(files)} class folder with images" if files else "no class folder with images"
        raise UsageError(
            f"data folder {root} has {found}; training needs at least 2 classes, "
            "each in its own sub-folder (DIR/cat/*.jpg, DIR/dog/*.jpg)"
        )
    for name, paths in files.items():
        if len(paths) < 2:
            raise UsageError(
                f"class {name!r} in {root} has 1 image; each class needs at least 2 "
                "(one to train on, one to test)"
            )
    classes = sorted(files)
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in files[name]:
            images.append(_load_image(path, size))
            labels.append(label)
    return _dataset(f"image folder {root}", torch.stack(images), labels, classes, seed)
