"""The server's job table: states, results kept for a while, an injectable clock."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

QUEUED, PROCESSING, COMPLETED, FAILED = "QUEUED", "PROCESSING", "COMPLETED", "FAILED"
RESULT_TTL_S = 3600.0


@dataclass
class Job:
    request_id: str
    state: str = QUEUED
    image: bytes | None = None
    extension: str = ""
    as_base64: bool = False
    error: str | None = None
    inference_time: float | None = None
    finished: float | None = None
    warnings: list[str] = field(default_factory=list)


class JobTable:
    """Jobs by id. Finished jobs expire ttl_s after they finish; unfinished ones never do."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl_s: float = RESULT_TTL_S) -> None:
        self.clock, self.ttl_s = clock, ttl_s
        self._jobs: dict[str, Job] = {}

    def create(self) -> Job:
        job = Job(request_id=str(uuid.uuid4()))
        self._jobs[job.request_id] = job
        return job

    def get(self, request_id: str) -> Job | None:
        self.expire()
        return self._jobs.get(request_id)

    def finish(self, job: Job, state: str) -> None:
        job.state, job.finished = state, self.clock()

    def unfinished(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state in (QUEUED, PROCESSING))

    def expire(self) -> None:
        now = self.clock()
        for request_id in [r for r, j in self._jobs.items() if j.finished is not None and now - j.finished > self.ttl_s]:
            del self._jobs[request_id]
