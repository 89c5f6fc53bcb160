"""Accepting an API request: its JSON body, its parameters and model names, both images read (still
encoded) and a place in the queue reserved, in that order, so nothing is queued that cannot run."""

from __future__ import annotations

import asyncio
import json
from typing import Callable
from urllib.parse import urlsplit

from aiohttp import web

from ..pipeline.errors import BadInput
from ..pipeline.runtime.images import check_output_size
from ..pipeline.models.store import ModelStore
from ..pipeline.params import FaceswapParams
from .admission import AdmissionControl, Ticket
from .assets import AssetStore
from .connection_guard import BodyReader
from .http_guard import ServerAddress, is_own_origin
from .input_reader import InputReader, asset_name, refuse_missing_asset
from .model_names import check_model_names
from .swap_request import EncodedImage

IMAGE_FIELDS = ("source_img", "target_img")


async def json_body(request: web.Request, bodies: BodyReader) -> dict:
    """The request's JSON object, read under the body deadline and caps; BadInput for anything else."""
    data = await bodies.read(request)
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise BadInput("the request body is not valid JSON (send a JSON object)") from None
    if not isinstance(body, dict):
        raise BadInput("the request body must be a JSON object")
    return body


def request_params(body: dict, store: ModelStore) -> tuple[FaceswapParams, dict[str, str]]:
    """The checked parameters and the two image references of a request body."""
    images = {}
    for name in IMAGE_FIELDS:
        value = body.pop(name, None)
        if not isinstance(value, str) or not value.strip():
            raise BadInput(f"{name} is required: an image URL or base64 image data")
        images[name] = value
    check_model_names(body, store)
    return FaceswapParams.from_mapping(body), images


class Acceptance:
    def __init__(self, store: ModelStore, admission: AdmissionControl, inputs: InputReader, assets: AssetStore,
                 address: ServerAddress, bodies: BodyReader) -> None:
        self.store, self.admission, self.inputs = store, admission, inputs
        self.assets, self.address, self.bodies = assets, address, bodies

    async def accept(self, request: web.Request) -> tuple[FaceswapParams, EncodedImage, EncodedImage, Ticket]:
        """Check the request and read both images; a place in the queue is taken only once all is well."""
        params, images = request_params(await json_body(request, self.bodies), self.store)
        self.admission.check_room()
        local_asset = self._local_asset_reader(request)
        reads = await asyncio.gather(*(self.inputs.read(images[name], name, local_asset) for name in images),
                                     return_exceptions=True)
        for outcome in reads:
            if isinstance(outcome, BaseException):
                raise outcome
        source, target = reads
        check_output_size(target.header.width, target.header.height, params.image_format)
        ticket = self.admission.reserve(source.header.pixels + target.header.pixels,
                                        len(source.data) + len(target.data))
        return params, source, target, ticket

    def _local_asset_reader(self, request: web.Request) -> Callable[[str], bytes | None]:
        own = self.address.own_origins(request)

        def read(url: str) -> bytes | None:
            parts = urlsplit(url)
            name = asset_name(parts.path)
            if name is None or not is_own_origin(url, own):
                return None
            found = self.assets.get(name)  # read, never consumed: an upload lives its own hour (assets.py)
            if found is None:
                raise refuse_missing_asset("the image URL")
            return found[0]

        return read
