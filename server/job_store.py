"""What the API's routes need from a job backend, whichever keeps the jobs: the local one (SQLite table,
worker thread, local_store.py) or the cluster one (Redis and arq workers, redis_store.py). Both keep the
states, the 422 for failed jobs, the 404 for unknown or expired ids and the one-hour retention alike."""

from __future__ import annotations

from typing import Protocol

from ..pipeline.errors import FaceswapError
from ..pipeline.params import FaceswapParams
from .admission import Ticket
from .job_execution import Outcome
from .job_table import Job

__all__ = ["Job", "JobStore", "StoreUnavailable"]


class StoreUnavailable(FaceswapError):
    """The job store cannot be reached for now (Redis down or unreachable): answer 503 with Retry-After."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JobStore(Protocol):
    async def start(self) -> None:
        """Connect, and queue again what a restart left unfinished."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot be reached."""

    async def submit(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket,
                     key_digest: str | None = None) -> Job:
        """Store a v2 job and queue it; from then on it ends COMPLETED or FAILED, and its copies of the
        images go. key_digest: who may delete it. The uploads its images came from are not the job's."""

    async def run_inline(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Outcome:
        """A v1 (sync) job: run it and wait for its outcome; nothing is kept."""

    async def get(self, request_id: str) -> Job | None:
        """The job, or None when unknown or expired."""

    async def result(self, request_id: str) -> bytes | None:
        """A COMPLETED job's image."""

    async def delete(self, request_id: str) -> bool:
        """Forget a finished job and its result now; False when there is none, or it has not finished (its
        worker gives its place back when it ends)."""

    async def expire(self) -> None:
        """Drop what is past its hour (where the store does not do it by itself)."""

    async def metrics(self) -> dict:
        """Queue depth, jobs per state and, for a cluster, per-worker counts."""

    async def signing_problem(self) -> str | None:
        """Why the processes that run this store's jobs cannot sign results now (None: they can, or do not sign)."""
