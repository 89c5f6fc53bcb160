"""The server's v2 job table, kept in the SQLite database: states, encoded inputs while a job waits,
results for an hour, an injectable clock. v1 (sync) jobs are never stored: nobody could fetch them."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .database import Database

QUEUED, PROCESSING, COMPLETED, FAILED = "QUEUED", "PROCESSING", "COMPLETED", "FAILED"
RESULT_TTL_S = 3600.0
MAX_RESULTS = 1000
MAX_ATTEMPTS = 2
INTERRUPTED_TWICE = ("the server stopped twice while running this job; it was not tried again "
                     "(it may be too large for this server)")


@dataclass
class Job:
    request_id: str
    state: str
    params: dict
    created: float
    finished: float | None = None
    error: str | None = None
    inference_time: float | None = None
    warnings: list[str] = field(default_factory=list)
    pixels: int = 0
    input_bytes: int = 0


_COLUMNS = "request_id, state, params, created, finished, error, inference_time, warnings, pixels, input_bytes"


def _job(row) -> Job:
    rid, state, params, created, finished, error, inference_time, warnings, pixels, input_bytes = row
    return Job(rid, state, json.loads(params), created, finished, error, inference_time, json.loads(warnings),
               pixels, input_bytes)


class JobTable:
    """Finished jobs expire ttl_s after they finish, and at most max_results are kept (oldest go
    first); unfinished ones never expire."""

    def __init__(self, clock: Callable[[], float] = time.time, ttl_s: float = RESULT_TTL_S,
                 max_results: int = MAX_RESULTS, database: Database | None = None) -> None:
        self.clock, self.ttl_s, self.max_results = clock, ttl_s, max_results
        self.db = database or Database()

    def add(self, params: dict, source: bytes, target: bytes, pixels: int) -> Job:
        job = Job(str(uuid.uuid4()), QUEUED, params, self.clock(), pixels=pixels,
                  input_bytes=len(source) + len(target))
        self.db.execute("INSERT INTO jobs (request_id, state, created, params, source, target, pixels, input_bytes) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (job.request_id, QUEUED, job.created, json.dumps(params), source, target, pixels,
                         job.input_bytes))
        return job

    def get(self, request_id: str) -> Job | None:
        self.expire()
        row = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE request_id = ?", (request_id,)).fetchone()
        return _job(row) if row else None

    def start(self, request_id: str) -> tuple[dict, bytes, bytes] | None:
        """Mark a queued job PROCESSING and return (params, source, target), or None if it is gone."""
        with self.db.lock:
            row = self.db.execute("SELECT params, source, target FROM jobs WHERE request_id = ? AND state = ?",
                                  (request_id, QUEUED)).fetchone()
            if row is None:
                return None
            self.db.execute("UPDATE jobs SET state = ?, attempts = attempts + 1 WHERE request_id = ?",
                            (PROCESSING, request_id))
        return json.loads(row[0]), row[1], row[2]

    def complete(self, request_id: str, image: bytes, inference_time: float, warnings: list[str]) -> None:
        self._finish(request_id, COMPLETED, result=image, inference_time=inference_time,
                     warnings=json.dumps(warnings))

    def fail(self, request_id: str, error: str) -> None:
        self._finish(request_id, FAILED, error=error)

    def _finish(self, request_id: str, state: str, **values) -> None:
        names = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE jobs SET state = ?, finished = ?, source = NULL, target = NULL, {names} "
                        "WHERE request_id = ?", (state, self.clock(), *values.values(), request_id))
        self._bound()

    def result(self, request_id: str) -> bytes | None:
        row = self.db.execute("SELECT result FROM jobs WHERE request_id = ? AND state = ?",
                              (request_id, COMPLETED)).fetchone()
        return row[0] if row else None

    def unfinished(self) -> list[Job]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state IN (?, ?) ORDER BY created",
                               (QUEUED, PROCESSING)).fetchall()
        return [_job(r) for r in rows]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    def recover(self) -> list[Job]:
        """After a restart: a job interrupted mid-run is queued again once, then FAILED with a reason;
        returns the queued jobs, oldest first."""
        with self.db.lock:
            self.db.execute("UPDATE jobs SET state = ?, finished = ?, error = ?, source = NULL, target = NULL "
                            "WHERE state = ? AND attempts >= ?",
                            (FAILED, self.clock(), INTERRUPTED_TWICE, PROCESSING, MAX_ATTEMPTS))
            self.db.execute("UPDATE jobs SET state = ? WHERE state = ?", (QUEUED, PROCESSING))
        return self.unfinished()

    def expire(self) -> int:
        """Delete finished jobs older than ttl_s; returns how many went."""
        gone = self.db.execute("DELETE FROM jobs WHERE finished IS NOT NULL AND finished < ?",
                               (self.clock() - self.ttl_s,)).rowcount
        return gone + self._bound()

    def _bound(self) -> int:
        return self.db.execute(
            "DELETE FROM jobs WHERE request_id IN (SELECT request_id FROM jobs WHERE finished IS NOT NULL "
            "ORDER BY finished DESC LIMIT -1 OFFSET ?)", (self.max_results,)).rowcount
