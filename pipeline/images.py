"""Decoding user images into RGB uint8 arrays, safely: allowed formats only, EXIF rotation, 16-bit and
palette modes, bombs, truncation; load_image: one entry point for a URL, a file path or base64 text."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import BadInput

MAX_PIXELS = 100_000_000
# The formats the API takes. Never let PIL guess among all its plugins: EPS/PS run Ghostscript, and
# rarely used decoders (DDS, BLP, ...) raise what nobody expects.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_FORMAT_NAMES = "JPEG, PNG, WebP, GIF, BMP or TIFF"
DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,", re.IGNORECASE)  # an image's data: URL, up to its payload
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _open(data: bytes, what: str, formats: tuple[str, ...]) -> Image.Image:
    if not data:
        raise BadInput(f"{what} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(formats))
    except Image.DecompressionBombError as exc:
        raise BadInput(f"{what} is too large to decode safely ({exc}); "
                       f"the limit is {MAX_PIXELS / 1e6:.0f} MP, so scale it down first") from None
    except Image.UnidentifiedImageError:
        names = _FORMAT_NAMES if formats == INPUT_FORMATS else ", ".join(formats)
        raise BadInput(f"{what} is not an image in a format this API takes ({names}); "
                       f"its first bytes are {data[:8]!r}") from None
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises on hostile bytes is the input's fault
        raise BadInput(f"{what} is corrupt or truncated: {_one_line(exc)}") from None
    width, height = img.size
    if width * height > MAX_PIXELS:
        img.close()
        raise BadInput(f"{what} is {width}x{height} ({width * height / 1e6:.0f} MP); "
                       f"the limit is {MAX_PIXELS / 1e6:.0f} MP, so scale it down first")
    return img


def probe_image(data: bytes, what: str = "image", formats: tuple[str, ...] = INPUT_FORMATS) -> ImageHeader:
    """Format and size from the header alone (no pixels decoded); BadInput when it is not an image we take."""
    with _open(data, what, formats) as img:
        return ImageHeader(img.format, img.size[0], img.size[1])


def decode_image(data: bytes, what: str = "image", formats: tuple[str, ...] = INPUT_FORMATS) -> np.ndarray:
    """Decode encoded image bytes into an (H, W, 3) RGB uint8 array, upright per EXIF."""
    img = _open(data, what, formats)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            return _to_rgb(img)
    except BadInput:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a decoder's error on hostile bytes is the input's fault
        raise BadInput(f"{what} is corrupt or truncated: {_one_line(exc)}") from None
    finally:
        img.close()


def _to_rgb(img: Image.Image) -> np.ndarray:
    """RGB uint8 from any mode: 16/32-bit grey scaled (not clipped to white), palette via its colours."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(img).astype(np.uint32)  # I holds 16-bit samples for PNG/TIFF grey images
        grey = (np.clip(values, 0, 65535) // 257).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        values = np.asarray(img, dtype=np.float32)
        scale = 255.0 if float(np.nanmax(values, initial=0.0)) <= 1.0 else 1.0
        grey = np.clip(np.nan_to_num(values) * scale, 0, 255).round().astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode != "RGB":
        img = img.convert("RGB")
    pixels = np.asarray(img)
    img.close()
    return pixels if pixels.flags.writeable else pixels.copy()


def _one_line(exc: BaseException) -> str:
    """A decoder's message on one line; PIL's "image file" wording would mislead for base64 or URL input."""
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    return re.sub(r"\b(image )?file\b", "image data", text)


def base64_bytes(text: str, what: str = "image") -> bytes:
    """The bytes of base64 text (optionally a data: URL): line breaks, missing padding and the
    URL-safe alphabet are accepted."""
    payload = _WHITESPACE.sub("", DATA_URL.sub("", text.strip(), count=1))
    if "-" in payload or "_" in payload:
        payload = payload.replace("-", "+").replace("_", "/")
    payload += "=" * (-len(payload) % 4)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{what} is neither an http(s) URL nor valid base64 image data") from None
    if not data:
        raise BadInput(f"{what} is empty (0 bytes of base64 data)")
    return data


def decode_base64_image(text: str, what: str = "image") -> np.ndarray:
    """Decode a base64 string (optionally a data: URL) holding an encoded image."""
    return decode_image(base64_bytes(text, what), what)


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


def load_image(reference: str, what: str = "image") -> np.ndarray:
    """Load an RGB uint8 image from an http(s) URL, a file path, or a base64 string (local use: a URL
    may name any address, this machine's included)."""
    from .http_fetch import fetch_image  # http_fetch decodes with this module

    text = (reference or "").strip()
    if not text:
        raise BadInput(f"{what} is empty: give a URL, a file path or base64 image data")
    if looks_like_url(text):
        return fetch_image(text, what)
    if len(text) < 4096 and Path(text).expanduser().is_file():
        return read_image_file(Path(text).expanduser(), what)
    if len(text) < 260 and ("/" in text or "\\" in text or "." in text[-6:]):
        raise BadInput(f"{what}: no file at {text}")
    try:
        data = base64_bytes(text, what)
    except BadInput:
        raise BadInput(f"{what} is neither a URL, an existing file, nor valid base64") from None
    return decode_image(data, what)
