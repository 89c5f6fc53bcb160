"""Decoding user images into RGB uint8 arrays, safely: EXIF rotation, alpha, bombs, truncation."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import BadInput

MAX_PIXELS = 100_000_000
_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)


def decode_image(data: bytes, what: str = "image") -> np.ndarray:
    """Decode encoded image bytes into an (H, W, 3) RGB uint8 array, upright per EXIF."""
    if not data:
        raise BadInput(f"{what} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise BadInput(
                        f"{what} is {width}x{height} ({width * height / 1e6:.0f} MP); "
                        f"the limit is {MAX_PIXELS / 1e6:.0f} MP, so scale it down first"
                    )
                img.load()
                upright = ImageOps.exif_transpose(img)
                return np.asarray(upright.convert("RGB"), dtype=np.uint8).copy()
    except BadInput:
        raise
    except Image.DecompressionBombError as exc:
        raise BadInput(f"{what} is too large to decode safely ({exc}); "
                       f"the limit is {MAX_PIXELS / 1e6:.0f} MP, so scale it down first") from None
    except Image.UnidentifiedImageError:
        raise BadInput(f"{what} is not an image PIL can read (first bytes: {data[:8]!r})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadInput(f"{what} is corrupt or truncated: {exc}") from None


def decode_base64_image(text: str, what: str = "image") -> np.ndarray:
    """Decode a base64 string (optionally a data: URL) holding an encoded image."""
    payload = _DATA_URL.sub("", text.strip(), count=1)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{what} is neither a URL, an existing file, nor valid base64") from None
    return decode_image(data, what)


def read_image_file(path: str | Path, what: str = "image") -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{what}: no file at {path}")
    return decode_image(path.read_bytes(), f"{what} ({path.name})")


def looks_like_url(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://"))


def encode_image(rgb: np.ndarray, image_format: str = "png", quality: int = 95) -> bytes:
    """Encode an RGB uint8 array as jpeg, png or webp bytes."""
    pil_format = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[image_format]
    out = io.BytesIO()
    options = {"quality": int(quality)} if image_format in ("jpeg", "webp") else {}
    Image.fromarray(rgb).save(out, format=pil_format, **options)
    return out.getvalue()
