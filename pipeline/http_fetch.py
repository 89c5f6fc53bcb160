"""Fetching an image from an http(s) URL with size and time limits."""

from __future__ import annotations

import numpy as np

from .errors import BadInput
from .images import decode_image

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
TIMEOUT_S = 30.0


def read_capped(response, max_bytes: int, what: str, error: type[Exception]) -> bytes:
    """The body of a streamed httpx response, refusing (with error) one larger than max_bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise error(f"{what} is {int(declared)} bytes; the limit is {max_bytes}")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise error(f"{what} is larger than the limit of {max_bytes} bytes; stopped reading")
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_bytes(url: str, max_bytes: int = MAX_DOWNLOAD_BYTES, timeout_s: float = TIMEOUT_S) -> tuple[bytes, str]:
    """GET url and return (body, content type); raise BadInput on anything a user must fix."""
    import httpx

    if not url.lower().startswith(("http://", "https://")):
        raise BadInput(f"only http(s) URLs are accepted, got {url[:80]!r}")
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise BadInput(f"{url} answered HTTP {response.status_code}")
            return read_capped(response, max_bytes, url, BadInput), response.headers.get("content-type", "")
    except httpx.TimeoutException:
        raise BadInput(f"{url} did not answer within {timeout_s:.0f} s") from None
    except httpx.HTTPError as exc:
        raise BadInput(f"could not fetch {url}: {exc}") from None


def fetch_image(url: str, what: str = "image") -> np.ndarray:
    data, content_type = fetch_bytes(url)
    try:
        return decode_image(data, what)
    except BadInput as exc:
        raise BadInput(f"{url} (Content-Type {content_type or 'unknown'}) is not an image: {exc}") from None
