"""What the server's worker does with one API request: decode the two images, check their content, run
the engine, check the result, encode it with its provenance marks. Every job backend's worker runs
decode_inputs then run_checked, so none can skip the content check."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..pipeline.provenance.c2pa_manifest import C2paSigner
from ..pipeline.content_check import ContentCheck
from ..pipeline.runtime.images import ImageHeader, decode_image
from ..pipeline.job import run_faceswap
from ..pipeline.swap_models import SwapModels
from ..pipeline.params import FaceswapParams
from ..pipeline.analysis.similarity import describe_similarities
from ..pipeline.provenance.marks import encode_marked, software

log = logging.getLogger("faceswap_v3.server")
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True)
class EncodedImage:
    """An input image as received (bytes, checked to be an image we take), decoded only when its job runs."""

    data: bytes
    header: ImageHeader


class JobCancelled(Exception):
    """The job's worker stopped it (past its time limit, or the worker is stopping); raised between faces."""


@dataclass
class JobInput:
    params: FaceswapParams
    source: np.ndarray
    target: np.ndarray
    models: SwapModels | None = None
    embeddings: dict[int, np.ndarray] | None = None  # the source's, from a worker's cache (None: computed here)
    content_check: ContentCheck | None = None
    signer: C2paSigner | None = None
    target_data: bytes | None = None  # the target as received, kept only to sign the result with it
    cancel: threading.Event | None = None  # set by the worker: the engine stops at its next face or frame

    def raise_if_cancelled(self, *_progress) -> None:
        """JobCancelled once cancel is set (the engine's progress callbacks call it between faces and frames)."""
        if self.cancel is not None and self.cancel.is_set():
            raise JobCancelled("the job was stopped by its worker")


def decode_inputs(params: FaceswapParams, source: bytes, target: bytes, models: SwapModels | None = None,
                  content_check: ContentCheck | None = None, signer: C2paSigner | None = None) -> JobInput:
    """Decode both images; raises BadInput naming the one that is wrong."""
    return JobInput(params, decode_image(source, "source_img"), decode_image(target, "target_img"), models,
                    content_check=content_check, signer=signer,
                    target_data=target if signer is not None else None)


def run_job(job: JobInput) -> tuple[bytes, list[str]]:
    """The encoded result (with provenance marks, signed when a signer is set) and the warnings; with the
    request's measure_similarity, the scores are logged."""
    models = job.models or SwapModels()
    result = run_faceswap(job.source, [job.target], job.params, models, after_frame=job.raise_if_cancelled,
                          on_step=job.raise_if_cancelled, embeddings=job.embeddings)
    if result.face_similarities:
        log.info(describe_similarities(result.face_similarities))
    encoded = encode_marked(result.frames[0], job.params.image_format, job.params.image_quality,
                            software(models.swapper_file))
    if job.signer is not None:
        encoded = job.signer.sign_result(encoded, job.params.image_format, job.target_data, job.target)
    return encoded, result.warnings


def run_checked(job: JobInput, engine: Callable[[JobInput], tuple[bytes, list[str]]] = run_job
                ) -> tuple[bytes, list[str]]:
    """engine(job) between content checks: the target and the source before it (a blocked image costs no
    swap), the encoded result, as the client will receive it, after it. Raises ContentBlocked."""
    check = job.content_check
    if check is not None:
        check.require_allowed(job.target, "target_img")
        check.require_allowed(job.source, "source_img")
    job.raise_if_cancelled()
    image, warnings = engine(job)
    job.raise_if_cancelled()
    if check is not None:
        check.require_allowed(decode_image(image, "the result"), "the result")
    return image, warnings
