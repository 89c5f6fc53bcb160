"""One entry point for every way a user names an image: URL, file path, or base64 text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import BadInput
from .http_fetch import fetch_image
from .images import base64_bytes, decode_image, looks_like_url, read_image_file


def load_image(reference: str, what: str = "image") -> np.ndarray:
    """Load an RGB uint8 image from an http(s) URL, a file path, or a base64 string (local use: a URL
    may name any address, this machine's included)."""
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
