"""Reading a request's source_img / target_img (URL, base64, or an asset of this server) into checked,
still-encoded bytes, without blocking the event loop: URLs are fetched asynchronously, so a slow
image host never holds up a request that carries its images inline."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import Executor
from typing import Callable

from ..pipeline.errors import BadInput
from ..net.http_fetch import fetch_bytes_async
from ..pipeline.runtime.images import base64_bytes, probe_image
from ..net.image_reference import looks_like_url
from ..net.url_guard import AddressPolicy, parse_url, quoted_url
from .admission import ServerLimits
from .swap_request import EncodedImage

_ASSET_PATH = re.compile(r"^/assets/([0-9a-f]{32}\.(?:png|jpg|webp))\Z")


class InputReader:
    """local_asset(url) returns an uploaded image's bytes when url names an asset of this server
    (None when it names nothing of ours), so those never travel over the network."""

    def __init__(self, limits: ServerLimits, policy: AddressPolicy, executor: Executor) -> None:
        self.limits, self.policy, self.executor = limits, policy, executor
        self.fetches = asyncio.Semaphore(limits.max_concurrent_fetches)

    async def read(self, reference: str, what: str, local_asset: Callable[[str], bytes | None]) -> EncodedImage:
        loop = asyncio.get_running_loop()
        if looks_like_url(reference):
            url = parse_url(reference, what).url
            data = local_asset(url)
            if data is None:
                async with self.fetches:
                    data, _ = await fetch_bytes_async(url, self.limits.max_fetch_bytes, self.limits.fetch_timeout_s,
                                                      self.policy, what)
            shown = f"{what} ({quoted_url(url)})"
        else:
            data = await loop.run_in_executor(self.executor, base64_bytes, reference, what)
            shown = what
        header = await loop.run_in_executor(self.executor, probe_image, data, shown)
        return EncodedImage(data, header)


def asset_name(path: str) -> str | None:
    """The asset file name in an /assets/<name> path, or None."""
    match = _ASSET_PATH.match(path)
    return match.group(1) if match else None


def refuse_missing_asset(what: str) -> BadInput:
    return BadInput(f"{what} names an uploaded image of this server that is unknown or has expired "
                    "(uploads are kept one hour); upload it again")
