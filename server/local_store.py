"""The default job backend: one process, jobs in the SQLite table (job_table.py), run one at a time on
the worker thread (job_runner.py), admission counted in this process."""

from __future__ import annotations

import asyncio
import logging

from ..pipeline.params import FaceswapParams
from .admission import AdmissionControl, Ticket
from .database import StorageFull
from .job_execution import Outcome
from .job_runner import STORAGE_FULL, JobRunner
from ..pipeline.job_contract import JOB_STATES, QUEUED
from .job_table import Job, JobTable

log = logging.getLogger("faceswap_v3.server")


class LocalJobStore:
    def __init__(self, jobs: JobTable, runner: JobRunner, admission: AdmissionControl) -> None:
        self.jobs, self.runner, self.admission = jobs, runner, admission

    async def start(self) -> None:
        try:
            queued = self.jobs.recover()
        except StorageFull as exc:  # start anyway: stored results stay readable, queued jobs run
            log.error("could not mark interrupted jobs after a restart: %s", exc)
            queued = [job for job in self.jobs.unfinished() if job.state == QUEUED]
            for job in self.jobs.unfinished():
                if job.state != QUEUED:
                    self.jobs.fail(job.request_id, STORAGE_FULL)
        for job in queued:
            ticket = self.admission.reserve(job.pixels, job.input_bytes, force=True)
            self.runner.run_stored(job.request_id, ticket)
            log.info("job %s queued again after a restart", job.request_id)

    async def close(self) -> None:
        self.runner.shutdown()

    async def ping(self) -> None:
        """The table is in this process: always there."""

    async def submit(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket,
                     key_digest: str | None = None) -> Job:
        return await asyncio.to_thread(self._enqueue, params, source, target, ticket, key_digest)

    def _enqueue(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket,
                 key_digest: str | None) -> Job:
        """Store the job and queue it, in one step that a cancelled request cannot cut in two."""
        try:
            job = self.jobs.add(params.to_mapping(), source, target, ticket.pixels, key_digest)
        except BaseException:
            self.admission.release(ticket)
            raise
        self.runner.run_stored(job.request_id, ticket)
        return job

    async def run_inline(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Outcome:
        return await asyncio.wrap_future(self.runner.run_inline(params, source, target, ticket))

    async def get(self, request_id: str) -> Job | None:
        return self.jobs.get(request_id)

    async def result(self, request_id: str) -> bytes | None:
        return self.jobs.result(request_id)

    async def delete(self, request_id: str) -> bool:
        return await asyncio.to_thread(self.jobs.delete, request_id)

    async def expire(self) -> None:
        await asyncio.to_thread(self._expire)

    def _expire(self) -> None:
        self.jobs.retry_unrecorded()
        self.jobs.expire()

    async def signing_problem(self) -> str | None:
        """This process signs its own results: the server checks its signer itself."""
        return None

    async def metrics(self) -> dict:
        rows = self.jobs.db.all("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        per_state = dict.fromkeys(JOB_STATES, 0) | dict(rows)
        return {"backend": "local", "queue_depth": self.admission.jobs, "jobs": per_state, "workers": {}}
