"""Fetching an image from an http(s) URL: one total deadline and size limit per download, redirects
followed by hand, and every connection made to an address the AddressPolicy allowed."""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urljoin

from ..pipeline.errors import BadInput
from .capped_body import ACCEPT_ENCODING, read_capped_async
from .url_guard import ANY_ADDRESS, AddressPolicy, Target, parse_url, resolve_allowed, quoted_url

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
TIMEOUT_S = 30.0
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)  # the answers that carry a Location to follow
_ssl_context = None


def redirect_location(response, current_url: str) -> str | None:
    """Where a redirect answer points, made absolute against the URL asked (not the pinned address);
    None when the answer is not a redirect. Every hand-followed redirect of the pack goes through here."""
    location = response.headers.get("location")
    if response.status_code not in REDIRECT_STATUSES or not location:
        return None
    return urljoin(current_url, location.strip())


async def fetch_bytes_async(url: str, max_bytes: int = MAX_DOWNLOAD_BYTES, timeout_s: float = TIMEOUT_S,
                            policy: AddressPolicy = ANY_ADDRESS, what: str = "image URL") -> tuple[bytes, str]:
    """GET url within timeout_s in total (connects, redirects and every read together) and at most
    max_bytes; returns (body, content type). BadInput on anything the user must fix; the texts never
    tell a refused address from a closed port."""
    import httpx

    target = _parse(url, what)

    async def download() -> tuple[bytes, str]:
        nonlocal target
        async with httpx.AsyncClient(verify=_tls(), trust_env=False, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                address = await asyncio.get_running_loop().run_in_executor(None, resolve_allowed, target, policy)
                async with client.stream(**pinned_request(target, address), timeout=timeout_s) as response:
                    location = redirect_location(response, target.url)
                    if location is not None:
                        target = _parse(location, f"{what} (redirected)")
                        continue
                    if response.status_code != 200:
                        raise BadInput(f"could not fetch {quoted_url(url)}: it answered HTTP {response.status_code}")
                    body = await read_capped_async(response, max_bytes, quoted_url(url), BadInput)
                    return body, response.headers.get("content-type", "")
            raise BadInput(f"could not fetch {quoted_url(url)}: more than {MAX_REDIRECTS} redirects")

    try:
        return await asyncio.wait_for(download(), timeout_s)  # asyncio.timeout needs Python 3.11
    except asyncio.TimeoutError:
        raise BadInput(f"could not fetch {quoted_url(url)}: no complete answer within {timeout_s:g} s "
                       "(the limit for a whole download)") from None
    except httpx.InvalidURL:  # our URLs are checked: httpx met a redirect to something that is not one
        raise BadInput(f"could not fetch {quoted_url(url)}: it redirected to an address that is not an http(s) "
                       "URL") from None
    except httpx.HTTPError:
        raise BadInput(f"could not fetch {quoted_url(url)}: the host could not be reached or did not answer") from None


def _parse(url: str, what: str) -> Target:
    """parse_url, and the whole URL (path and query too) as httpx will send it."""
    import httpx

    target = parse_url(url, what)
    try:
        httpx.URL(target.url)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise BadInput(f"{what} is not a valid URL: {quoted_url(url)}") from None
    return target


def pinned_request(target: Target, address, method: str = "GET", headers: dict | None = None) -> dict:
    """httpx request arguments for the checked address itself, naming the host in Host (and SNI, for
    certificates); the body is asked for uncompressed."""
    import httpx

    parsed = httpx.URL(target.url)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    request = {"method": method, "url": parsed.copy_with(host=str(address), port=target.port),
               "headers": {**(headers or {"Accept": "image/*"}), **ACCEPT_ENCODING, "Host": host_header}}
    if target.scheme == "https":
        request["extensions"] = {"sni_hostname": target.host}
    return request


def _tls():
    global _ssl_context
    if _ssl_context is None:
        import httpx

        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


def fetch_bytes(url: str, max_bytes: int = MAX_DOWNLOAD_BYTES, timeout_s: float = TIMEOUT_S,
                policy: AddressPolicy = ANY_ADDRESS, what: str = "image URL") -> tuple[bytes, str]:
    """fetch_bytes_async for synchronous callers (CLI, nodes); runs in its own event loop."""
    coroutine = fetch_bytes_async(url, max_bytes, timeout_s, policy, what)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="faceswap-fetch")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
