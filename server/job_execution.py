"""Running one accepted job, whichever backend queued it: decode, check, swap, encode, sign. Every error
becomes an Outcome with the HTTP status it deserves, so no backend writes its own error handling."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..pipeline.provenance.c2pa_manifest import C2paSigner, manifest_note
from ..pipeline.content_check import ContentBlocked, ContentCheck
from ..pipeline.errors import BadInput, ModelUnavailable
from ..pipeline.swap_models import SwapModels
from ..pipeline.params import FaceswapParams
from .swap_request import JobCancelled, decode_inputs, run_checked

log = logging.getLogger("faceswap_v3.server")
INTERNAL_ERROR = "internal error; see the server log"
MISSING_MODEL = "a model file this request needs is missing on this server; ask its operator to install it"
SIGNER_EXPIRED = ("this server's certificate for signing results has expired, so it cannot make results now; "
                  "its operator has been told (see the server log)")
_SERVER_PATH = re.compile(r"(?<![\w:/.])/(?!/)[^\s'\",)]+")


@dataclass
class Outcome:
    """What the worker made of one job: an image, or an error with the HTTP status it deserves."""

    image: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    inference_time: float = 0.0
    error: str | None = None
    status: int = 200
    reason: str | None = None  # machine-readable: content_blocked
    c2pa: str | None = None  # a result's C2PA manifest: "attached", or why none was (NO_MANIFEST)


def without_server_paths(message: str) -> str:
    """No server path in an answer, whichever code wrote the message."""
    return _SERVER_PATH.sub("<server path>", message)


class JobExecution:
    """engine: the job's work, JobInput -> (image bytes, warnings) (tests pass a fast stand-in), run
    between content checks when content_check is given; signer signs each result."""

    def __init__(self, models: SwapModels, engine: Callable, content_check: ContentCheck | None = None,
                 signer: C2paSigner | None = None) -> None:
        self.models, self.engine, self.content_check, self.signer = models, engine, content_check, signer

    def execute(self, params: FaceswapParams, source: bytes, target: bytes,
                cancel: threading.Event | None = None) -> Outcome:
        """Decode, swap, encode; client mistakes become 400 with the reason, our own faults 500 with a
        generic text and the details in the log. cancel, once set, stops the engine at its next face or frame
        (the Outcome then says so; the caller has its own reason)."""
        started = time.perf_counter()
        if self.signer is not None and self.signer.problem() is not None:
            log.error("%s", self.signer.problem())
            return Outcome(error=SIGNER_EXPIRED, status=500)
        try:
            job_input = decode_inputs(params, source, target, self.models, self.content_check, self.signer)
            job_input.cancel = cancel
            del source, target
            image, warnings = run_checked(job_input, self.engine)
            return Outcome(image, list(warnings), round(time.perf_counter() - started, 3),
                           c2pa=manifest_note(self.signer))
        except JobCancelled as exc:
            return Outcome(error=str(exc), status=500)
        except ContentBlocked as exc:
            return Outcome(error=str(exc), status=422, reason=exc.reason)
        except BadInput as exc:
            return Outcome(error=without_server_paths(str(exc)), status=400)
        except ModelUnavailable as exc:
            log.error("a model is missing: %s", exc)
            return Outcome(error=MISSING_MODEL, status=500)
        except Exception:  # noqa: BLE001 - a failed job must not kill the worker
            log.exception("a job failed")
            return Outcome(error=INTERNAL_ERROR, status=500)
