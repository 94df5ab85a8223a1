"""Resizing images before they are sent, with Pillow; nothing here talks to the network."""

from __future__ import annotations

import io

from PIL import Image

from ollama_bench.errors import UsageError


def resize_longest_side(data: bytes, side_px: int) -> bytes:
    """The image with its longest side at `side_px` (up or down), aspect kept, in its format.

    LANCZOS, Pillow's highest-quality filter, for both directions. JPEG is written at quality 95
    (so that the sweep measures pixels rather than compression), other formats with Pillow's
    defaults; EXIF orientation is not applied (the server gets what the camera wrote, resized).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or "PNG"
            width, height = image.size
            scale = side_px / max(width, height)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            resized = image.resize(size, Image.Resampling.LANCZOS)
            options: dict[str, object] = {}
            if image_format == "JPEG":
                options = {"quality": 95}
                if resized.mode not in ("RGB", "L", "CMYK"):
                    resized = resized.convert("RGB")
            out = io.BytesIO()
            resized.save(out, format=image_format, **options)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot resize an image to {side_px} px: {exc}") from None
    return out.getvalue()
