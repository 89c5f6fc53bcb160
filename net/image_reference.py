"""Resolving what a user typed, a file path, an http(s) URL or base64 text, into an RGB image (the CLI and
Load Face). Decoding itself is pipeline.images'; fetching is http_fetch's."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..pipeline.errors import BadInput
from ..pipeline.runtime.images import base64_bytes, decode_image, read_image_file
from .http_fetch import fetch_bytes
from .url_guard import ANY_ADDRESS, AddressPolicy, quoted_url


def looks_like_url(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://"))


def fetch_image(url: str, what: str = "image", policy: AddressPolicy = ANY_ADDRESS) -> np.ndarray:
    """Fetch and decode an image URL; errors name `what` (the widget or option) first."""
    try:
        data, content_type = fetch_bytes(url, policy=policy, what=what)
    except BadInput as exc:
        message = str(exc)
        raise BadInput(message if message.startswith(what) else f"{what}: {message}") from None
    return decode_image(data, f"{what} ({quoted_url(url)}, Content-Type {content_type or 'unknown'})")


def load_image(reference: str, what: str = "image", policy: AddressPolicy = ANY_ADDRESS,
               folders: list[Path] | None = None, outside: Callable[[str], str] | None = None) -> np.ndarray:
    """Load an RGB uint8 image from an http(s) URL, a file path, or a base64 string. The defaults are for
    local use (the CLI): a URL may name any address, a path any file. Load Face passes its address
    policy, the folders files may come from, and outside(what), the message for a file elsewhere."""
    text = (reference or "").strip()
    if not text:
        raise BadInput(f"{what} is empty: give a URL, a file path or base64 image data")
    if looks_like_url(text):
        return fetch_image(text, what, policy)
    if len(text) < 4096 and _is_file(Path(text).expanduser()):
        path = Path(text).expanduser()
        if folders is not None and not is_inside(path, folders):
            raise BadInput(outside(what) if outside else f"{what}: that file is outside the allowed folders")
        return read_image_file(path, what)
    if len(text) < 260 and ("/" in text or "\\" in text or "." in text[-6:]):
        raise BadInput(f"{what}: no file at {text}")
    try:
        data = base64_bytes(text, what)
    except BadInput:
        raise BadInput(f"{what} is neither a URL, an existing file, nor valid base64") from None
    return decode_image(data, what)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # base64 text can be too long or odd for a path
        return False


def is_inside(path: Path, folders: list[Path]) -> bool:
    """Whether path, symlinks resolved, lies inside one of folders."""
    try:
        real = path.expanduser().resolve()
        return any(real.is_relative_to(folder.expanduser().resolve()) for folder in folders)
    except (OSError, RuntimeError, ValueError):
        return False
