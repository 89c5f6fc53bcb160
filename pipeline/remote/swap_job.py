"""One API request's work: load the two images, run the engine, encode the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..engine import SwapModels
from ..faceswap import run_faceswap
from ..http_fetch import fetch_image
from ..images import decode_base64_image, decode_image, encode_image, looks_like_url
from ..params import FaceswapParams

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass
class JobInput:
    params: FaceswapParams
    source: np.ndarray
    target: np.ndarray
    models: SwapModels | None = None


def load_inputs(params: FaceswapParams, source: str, target: str,
                local_asset: Callable[[str], bytes | None] = lambda url: None,
                models: SwapModels | None = None) -> JobInput:
    """Decode both images (URL or base64); raises BadInput naming the one that is wrong."""
    images = []
    for what, reference in (("source_img", source), ("target_img", target)):
        local = local_asset(reference) if looks_like_url(reference) else None
        images.append(decode_image(local, what) if local is not None else _load(reference, what))
    return JobInput(params, images[0], images[1], models)


def _load(reference: str, what: str) -> np.ndarray:
    """The API takes image URLs or base64, never paths on the server's disk."""
    if looks_like_url(reference):
        return fetch_image(reference.strip(), what)
    return decode_base64_image(reference, what)


def run_job(job: JobInput) -> tuple[bytes, list[str]]:
    result = run_faceswap(job.source, [job.target], job.params, job.models or SwapModels())
    return encode_image(result.frames[0], job.params.image_format, job.params.image_quality), result.warnings
