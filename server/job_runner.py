"""The local backend's queue: accepted jobs run one at a time on the worker thread (job_execution.py does
the work), their outcome recorded in the job table, and the job's admission ticket given back whatever
happens."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from ..pipeline.params import FaceswapParams
from .admission import AdmissionControl, Ticket
from .database import StorageFull
from .job_execution import INTERNAL_ERROR, JobExecution, Outcome
from .job_table import JobTable

log = logging.getLogger("faceswap_v3.server")
STORAGE_FULL = ("the server's disk was full, so this job could not be run or its result kept; submit it again "
                "later")


class JobRunner:
    def __init__(self, execution: JobExecution, jobs: JobTable, admission: AdmissionControl) -> None:
        self.execution, self.jobs, self.admission = execution, jobs, admission
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-worker")

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
                outcome = self.execution.execute(FaceswapParams.from_mapping(params), source, target)
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
            return self.execution.execute(params, source, target)
        finally:
            self.admission.release(ticket)
