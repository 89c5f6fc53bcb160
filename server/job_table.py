"""The server's v2 job table, kept in the SQLite database: states, encoded inputs while a job waits,
results for an hour, an injectable clock. v1 (sync) jobs are never stored: nobody could fetch them."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ..pipeline.job_contract import COMPLETED, FAILED, FINISHED, PROCESSING, QUEUED, RESULT_TTL_S
from .database import Database, StorageFull

log = logging.getLogger("faceswap_v3.server")

MAX_RESULTS = 1000
MAX_ATTEMPTS = 2
INTERRUPTED_TWICE = ("the server stopped twice while running this job; it was not tried again "
                     "(it may be too large for this server)")
DAMAGED_ROW = "this job's stored record is damaged and cannot be run or shown; submit the request again"


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
    reason: str | None = None  # why it FAILED, machine-readable (content_blocked), when known
    api_key: str | None = None  # a digest of the key that submitted it (None on a server without a key)
    c2pa: str | None = None  # set by a cluster worker: whether it attached a C2PA manifest (else the server's)


_COLUMNS = ("request_id, state, params, created, finished, error, inference_time, warnings, pixels, input_bytes, "
            "reason, api_key")


def _job(row) -> Job:
    """The Job of a row; a row whose JSON columns do not parse is reported FAILED with DAMAGED_ROW (the
    caller marks it so in the table)."""
    rid, state, params, created, finished, error, inference_time, warnings, pixels, input_bytes, reason, key = row
    try:
        params, warnings = json.loads(params), json.loads(warnings)
        if not isinstance(params, dict) or not isinstance(warnings, list):
            raise ValueError("not a JSON object and list")
    except (ValueError, TypeError, RecursionError):
        return Job(rid, FAILED, {}, created, finished or created, DAMAGED_ROW, api_key=key)
    return Job(rid, state, params, created, finished, error, inference_time, warnings, pixels, input_bytes,
               reason, key)


class JobTable:
    """Finished jobs expire ttl_s after they finish, and at most max_results are kept (oldest go
    first); unfinished ones never expire."""

    def __init__(self, clock: Callable[[], float] = time.time, ttl_s: float = RESULT_TTL_S,
                 max_results: int = MAX_RESULTS, database: Database | None = None) -> None:
        self.clock, self.ttl_s, self.max_results = clock, ttl_s, max_results
        self.db = database or Database()
        # Failures that could not be written (a full disk): shown by get() and written by retry_unrecorded()
        self._unrecorded: dict[str, str] = {}

    def add(self, params: dict, source: bytes, target: bytes, pixels: int, api_key: str | None = None) -> Job:
        """The job's own copies of its images are kept until it ends (the uploads they may have come from
        live their own hour: assets.py)."""
        job = Job(str(uuid.uuid4()), QUEUED, params, self.clock(), pixels=pixels,
                  input_bytes=len(source) + len(target), api_key=api_key)
        self.db.execute("INSERT INTO jobs (request_id, state, created, params, source, target, pixels, input_bytes, "
                        "api_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (job.request_id, QUEUED, job.created, json.dumps(params), source, target, pixels,
                         job.input_bytes, api_key))
        return job

    def get(self, request_id: str) -> Job | None:
        try:
            self.expire()
        except StorageFull:
            pass  # expiring frees room; reading must work on a full disk all the same
        row = self.db.one(f"SELECT {_COLUMNS} FROM jobs WHERE request_id = ?", (request_id,))
        if row is None:
            return None
        job = self._checked(_job(row), row[1])
        if job.state not in FINISHED and request_id in self._unrecorded:
            job.state, job.error, job.finished = FAILED, self._unrecorded[request_id], self.clock()
        return job

    def _checked(self, job: Job, stored_state: str) -> Job:
        """A damaged row found: logged with its id and marked FAILED in the table (once)."""
        if job.error == DAMAGED_ROW and stored_state != FAILED:
            log.error("job %s: its stored record is damaged (params or warnings are not valid JSON); marked FAILED",
                      job.request_id)
            self.fail(job.request_id, DAMAGED_ROW)
        return job

    def start(self, request_id: str) -> tuple[dict, bytes, bytes] | None:
        """Mark a queued job PROCESSING and return (params, source, target), or None if it is gone or
        damaged (then FAILED)."""
        with self.db.lock:
            row = self.db.one("SELECT params, source, target FROM jobs WHERE request_id = ? AND state = ?",
                              (request_id, QUEUED))
            if row is None:
                return None
            try:
                params = json.loads(row[0])
            except (ValueError, TypeError, RecursionError):
                log.error("job %s: its stored params are not valid JSON; marked FAILED", request_id)
                self.fail(request_id, DAMAGED_ROW)
                return None
            self.db.execute("UPDATE jobs SET state = ?, attempts = attempts + 1 WHERE request_id = ?",
                            (PROCESSING, request_id))
        return params, row[1], row[2]

    def complete(self, request_id: str, image: bytes, inference_time: float, warnings: list[str]) -> None:
        self._finish(request_id, COMPLETED, result=image, inference_time=inference_time,
                     warnings=json.dumps(warnings))

    def fail(self, request_id: str, error: str, reason: str | None = None) -> None:
        """Mark a job FAILED; on a full disk the failure is kept in memory (get() shows it) and written
        by retry_unrecorded() once there is room, so no acknowledged job waits forever."""
        try:
            self._finish(request_id, FAILED, error=error, reason=reason)
        except StorageFull:
            self._unrecorded[request_id] = error
            log.error("job %s failed (%s) and the disk is full: the failure is kept in memory until it can be "
                      "written", request_id, error)
        else:
            self._unrecorded.pop(request_id, None)

    def retry_unrecorded(self) -> None:
        for request_id, error in list(self._unrecorded.items()):
            self.fail(request_id, error)

    def delete(self, request_id: str) -> bool:
        """Remove a finished job at once: its row and result. False when there is no such job, or
        it is still QUEUED or PROCESSING (kept until its worker is done with it and gives its ticket back;
        its inputs go when it ends)."""
        with self.db.lock:
            if self.db.one("SELECT 1 FROM jobs WHERE request_id = ? AND state NOT IN (?, ?)",
                           (request_id, QUEUED, PROCESSING)) is None:
                return False
            gone = self.db.execute("DELETE FROM jobs WHERE request_id = ?", (request_id,)) > 0
        self._flush_deleted()
        return gone

    def _flush_deleted(self) -> None:
        """Deleted images are zeroed in the database file (secure_delete); this also empties the write-ahead
        log, which still holds the pages as they were written."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _finish(self, request_id: str, state: str, **values) -> None:
        names = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE jobs SET state = ?, finished = ?, source = NULL, target = NULL, {names} "
                        "WHERE request_id = ?", (state, self.clock(), *values.values(), request_id))
        self._bound()
        self._flush_deleted()

    def result(self, request_id: str) -> bytes | None:
        row = self.db.one("SELECT result FROM jobs WHERE request_id = ? AND state = ?",
                          (request_id, COMPLETED))
        return row[0] if row else None

    def unfinished(self) -> list[Job]:
        rows = self.db.all(f"SELECT {_COLUMNS} FROM jobs WHERE state IN (?, ?) ORDER BY created",
                           (QUEUED, PROCESSING))
        jobs = [self._checked(_job(r), r[1]) for r in rows]
        return [job for job in jobs if job.state != FAILED]

    def count(self) -> int:
        return self.db.one("SELECT COUNT(*) FROM jobs")[0]

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
                               (self.clock() - self.ttl_s,))
        return gone + self._bound()

    def _bound(self) -> int:
        return self.db.execute(
            "DELETE FROM jobs WHERE request_id IN (SELECT request_id FROM jobs WHERE finished IS NOT NULL "
            "ORDER BY finished DESC LIMIT -1 OFFSET ?)", (self.max_results,))
