"""Running accepted jobs one at a time on the worker thread: decode, swap, encode, record the outcome in
the job table, and give the job's admission ticket back whatever happens."""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from ..pipeline.c2pa_manifest import C2paSigner, manifest_note
from ..pipeline.content_check import ContentBlocked, ContentCheck
from ..pipeline.errors import BadInput, ModelUnavailable
from ..pipeline.models.swap_models import SwapModels
from ..pipeline.params import FaceswapParams
from .admission import Admission, Ticket
from .database import StorageFull
from .job_table import JobTable
from .swap_request import decode_inputs, run_checked

log = logging.getLogger("faceswap_v3.server")
INTERNAL_ERROR = "internal error; see the server log"
STORAGE_FULL = ("the server's disk was full, so this job could not be run or its result kept; submit it again "
                "later")
MISSING_MODEL = "a model file this request needs is missing on this server; ask its operator to install it"
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


class JobRunner:
    """engine: the job's work, JobInput -> (image bytes, warnings) (tests pass a fast stand-in), run
    between content checks when content_check is given."""

    def __init__(self, models: SwapModels, engine: Callable, jobs: JobTable, admission: Admission,
                 content_check: ContentCheck | None = None, signer: C2paSigner | None = None) -> None:
        self.models, self.engine, self.jobs, self.admission = models, engine, jobs, admission
        self.content_check, self.signer = content_check, signer
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-worker")

    def execute(self, params: FaceswapParams, source: bytes, target: bytes) -> Outcome:
        """Decode, swap, encode; every error becomes an Outcome (client mistakes 400 with the reason,
        our own faults 500 with a generic text and the details in the log)."""
        started = time.perf_counter()
        try:
            job_input = decode_inputs(params, source, target, self.models, self.content_check, self.signer)
            del source, target
            image, warnings = run_checked(job_input, self.engine)
            return Outcome(image, list(warnings), round(time.perf_counter() - started, 3),
                           c2pa=manifest_note(self.signer))
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

    def run_stored(self, request_id: str, ticket: Ticket) -> Future:
        return self.worker.submit(self._work_stored, request_id, ticket)

    def run_inline(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Future:
        future = self.worker.submit(self._work_inline, params, source, target, ticket)
        # a job cancelled before it started never runs its own release
        future.add_done_callback(lambda done: done.cancelled() and self.admission.release(ticket))
        return future

    def shutdown(self) -> None:
        self.worker.shutdown(wait=False, cancel_futures=True)

    def _work_stored(self, request_id: str, ticket: Ticket) -> None:
        """Run a stored job; whatever happens it ends COMPLETED or FAILED (in memory first when even
        the failure cannot be written: see JobTable.fail)."""
        try:
            started = self.jobs.start(request_id)
            if started is None:
                return
            params, source, target = started
            try:
                outcome = self.execute(FaceswapParams.from_mapping(params), source, target)
            except BaseException:
                self.jobs.fail(request_id, INTERNAL_ERROR)
                raise
            if outcome.error is None:
                self.jobs.complete(request_id, outcome.image, outcome.inference_time, outcome.warnings)
            else:
                self.jobs.fail(request_id, outcome.error, outcome.reason)
        except StorageFull:
            self.jobs.fail(request_id, STORAGE_FULL)
        except Exception:  # noqa: BLE001 - keep the worker alive
            log.exception("job %s could not be recorded", request_id)
            self.jobs.fail(request_id, INTERNAL_ERROR)
        finally:
            self.admission.release(ticket)

    def _work_inline(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Outcome:
        try:
            return self.execute(params, source, target)
        finally:
            self.admission.release(ticket)
