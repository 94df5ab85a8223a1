"""Image files before they are sent: does each decode as a format Ollama reads, how big is it, and
a downsized copy when one is wanted. Pillow does the decoding and the resampling.

Ollama 0.24 decodes JPEG, PNG, BMP, TIFF and WebP (reference §3; not GIF); bytes it cannot
decode fail only inside the runner, as an HTTP 500 on every request, so they are caught here.
llama3.2-vision looks at 1120×1120 pixels at most (4 tiles of 560), so pixels beyond that only add
upload and server-side resizing to every request: a large image is flagged, and
`resize_longest_side` makes the copy `--max-image-side` sends (and any other resizing sweep).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

#: Pillow's names for the formats Ollama decodes (MPO: a JPEG with extra frames, from phones).
OLLAMA_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "TIFF", "WEBP"})
#: Longest side from which an image is flagged: beyond 4K, nearly 4× what the model looks at.
LARGE_SIDE_PX = 4096
#: Size from which an image is flagged: its upload alone is noticeable on a LAN.
LARGE_BYTES = 10 * 2**20
MODEL_SIDE_PX = 1120  # llama3.2-vision's canvas: 2×2 tiles of 560 px
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Picture:
    """What an image file holds, as decoded by Pillow."""

    format: str  # Pillow's name: JPEG, PNG, WEBP...
    width_px: int
    height_px: int

    @property
    def longest_side_px(self) -> int:
        return max(self.width_px, self.height_px)


def inspect(data: bytes) -> Picture:
    """Decode `data` completely (JPEGs at 1/8 scale: every byte is still read) and say what it is.

    Raises ValueError with Pillow's reason when it does not decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size is ours to judge
            with Image.open(io.BytesIO(data)) as image:
                picture = Picture(str(image.format), image.width, image.height)
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
    except Image.DecompressionBombError as exc:
        raise ValueError(f"too many pixels to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise ValueError("not an image format Pillow knows") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return picture


def resize_longest_side(data: bytes, side_px: int) -> bytes:
    """The image scaled so that its longest side is `side_px`, aspect ratio kept, in its own
    format, with Pillow's LANCZOS filter (the highest-quality one for downscaling).

    JPEG and WebP are saved at quality 95 and keep their EXIF and colour profile; a palette image
    is resampled in full colour (LANCZOS needs it) and saved as such.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        fmt = "JPEG" if image.format == "MPO" else str(image.format)
        scale = side_px / max(image.width, image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        source: Image.Image = image
        if image.mode in ("P", "1"):
            source = image.convert("RGBA" if "transparency" in image.info else "RGB")
        resized = source.resize(size, Image.Resampling.LANCZOS)
        options: dict[str, object] = {}
        if fmt in ("JPEG", "WEBP"):
            options["quality"] = JPEG_QUALITY
            for key in ("exif", "icc_profile"):
                if image.info.get(key):
                    options[key] = image.info[key]
        out = io.BytesIO()
        resized.save(out, format=fmt, **options)
    return out.getvalue()
