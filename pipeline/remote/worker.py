"""What the server's worker does with one API request: decode the two images, run the engine, encode the result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..images import ImageHeader, decode_image, encode_image
from ..job import run_faceswap
from ..models.swap_models import SwapModels
from ..params import FaceswapParams

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True)
class EncodedImage:
    """An input image as received (bytes, checked to be an image we take), decoded only when its job runs."""

    data: bytes
    header: ImageHeader


@dataclass
class JobInput:
    params: FaceswapParams
    source: np.ndarray
    target: np.ndarray
    models: SwapModels | None = None


def decode_inputs(params: FaceswapParams, source: bytes, target: bytes, models: SwapModels | None = None) -> JobInput:
    """Decode both images; raises BadInput naming the one that is wrong."""
    return JobInput(params, decode_image(source, "source_img"), decode_image(target, "target_img"), models)


def run_job(job: JobInput) -> tuple[bytes, list[str]]:
    result = run_faceswap(job.source, [job.target], job.params, job.models or SwapModels())
    return encode_image(result.frames[0], job.params.image_format, job.params.image_quality), result.warnings
