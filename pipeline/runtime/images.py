"""Decoding user images into RGB uint8 arrays, safely: allowed formats only, EXIF rotation, 16-bit and
palette modes, bombs, truncation; encoding results."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from ..errors import BadInput

MAX_PIXELS = 100_000_000
MAX_FILE_BYTES = 256 * 1024 * 1024  # an image file read from disk
MAX_SIDE = 32_768  # px, either side
MAX_SIDE_RATIO = 50  # the longer side over the shorter: a 1 x 100,000,000 strip is no photo
# What each output format can encode (WebP's format field is 14 bits; JPEG's is 16).
OUTPUT_MAX_SIDE = {"webp": 16_383, "jpeg": 65_535, "png": MAX_SIDE}
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


def check_shape(width: int, height: int, what: str, max_pixels: int = MAX_PIXELS) -> None:
    """BadInput unless width x height is within the pixel budget, MAX_SIDE and MAX_SIDE_RATIO."""
    if width * height > max_pixels:
        raise BadInput(f"{what} is {width}x{height} ({width * height / 1e6:.0f} MP); "
                       f"the limit is {max_pixels / 1e6:.0f} MP, so scale it down first")
    if max(width, height) > MAX_SIDE:
        raise BadInput(f"{what} is {width}x{height}; each side may be at most {MAX_SIDE} px")
    if max(width, height) > MAX_SIDE_RATIO * max(1, min(width, height)):
        raise BadInput(f"{what} is {width}x{height}; the longer side may be at most {MAX_SIDE_RATIO} times the "
                       "shorter")


def check_output_size(width: int, height: int, image_format: str) -> None:
    """BadInput when a result of width x height cannot be encoded as image_format (checked before a
    job is queued, not after it ran)."""
    limit = OUTPUT_MAX_SIDE[image_format]
    if max(width, height) > limit:
        raise BadInput(f"target_img is {width}x{height}, but image_format={image_format} cannot hold a side over "
                       f"{limit} px; choose image_format=png or a smaller target")


def _open(data: bytes | BinaryIO, what: str, formats: tuple[str, ...], max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The image's header read (from bytes, or an open file: nothing past the header is read); no
    error text quotes the data."""
    if isinstance(data, bytes) and not data:
        raise BadInput(f"{what} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data, formats=list(formats))
    except Image.DecompressionBombError as exc:
        raise BadInput(f"{what} is too large to decode safely ({exc}); "
                       f"the limit is {MAX_PIXELS / 1e6:.0f} MP, so scale it down first") from None
    except Image.UnidentifiedImageError:
        names = _FORMAT_NAMES if formats == INPUT_FORMATS else ", ".join(formats)
        raise BadInput(f"{what} is not an image in a format this API takes ({names})") from None
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises on hostile bytes is the input's fault
        raise BadInput(f"{what} is corrupt or truncated: {_one_line(exc)}") from None
    try:
        check_shape(*img.size, what, max_pixels)
    except BadInput:
        img.close()
        raise
    return img


def probe_image(data: bytes, what: str = "image", formats: tuple[str, ...] = INPUT_FORMATS) -> ImageHeader:
    """Format and size from the header alone (no pixels decoded); BadInput when it is not an image we take."""
    with _open(data, what, formats) as img:
        return ImageHeader(img.format, img.size[0], img.size[1])


def decode_image(data: bytes, what: str = "image", formats: tuple[str, ...] = INPUT_FORMATS,
                 max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes into an (H, W, 3) RGB uint8 array, upright per EXIF."""
    img = _open(data, what, formats, max_pixels)
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
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _wide_grey_to_rgb(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode != "RGB":
        img = img.convert("RGB")
    pixels = np.asarray(img)
    img.close()
    return pixels if pixels.flags.writeable else pixels.copy()


def _wide_grey_to_rgb(img: Image.Image, strip_rows: int = 256) -> np.ndarray:
    """16/32-bit integer or float grey to RGB uint8, a strip of rows at a time: a 100 MP float image
    never gets a full-size float copy. I holds 16-bit samples for PNG/TIFF grey images; F values up to
    1.0 are taken as 0..1."""
    width, height = img.size
    floats = img.mode == "F"
    scale = 1.0
    if floats:
        low, high = img.getextrema()
        scale = 255.0 if high is not None and high <= 1.0 else 1.0
    rgb = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, strip_rows):
        values = np.asarray(img.crop((0, top, width, min(height, top + strip_rows))))
        if floats:
            grey = np.clip(np.nan_to_num(values.astype(np.float32)) * scale, 0, 255).round()
        else:
            grey = np.clip(values.astype(np.int64), 0, 65535) // 257
        rgb[top:top + strip_rows] = grey.astype(np.uint8)[:, :, None]
    return rgb


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


def read_image_file(path: str | Path, what: str = "image") -> np.ndarray:
    """Decode an image file, read whole only after its size and its header were checked."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{what}: no file at {path}")
    what = f"{what} ({path.name})"
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BadInput(f"{what} is {size} bytes; the limit for an image file is {MAX_FILE_BYTES}")
    with open(path, "rb") as file:
        _open(file, what, INPUT_FORMATS).close()  # the header alone (PIL may close the file)
    with open(path, "rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"{what} is larger than the limit for an image file ({MAX_FILE_BYTES} bytes)")
    return decode_image(data, what)


def encode_image(rgb: np.ndarray, image_format: str = "png", quality: int = 95) -> bytes:
    """Encode an RGB uint8 array as jpeg, png or webp bytes."""
    pil_format = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[image_format]
    out = io.BytesIO()
    options = {"quality": int(quality)} if image_format in ("jpeg", "webp") else {}
    Image.fromarray(rgb).save(out, format=pil_format, **options)
    return out.getvalue()
