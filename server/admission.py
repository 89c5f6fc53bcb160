"""What the server takes on at once: jobs, and the pixels and encoded bytes of the images they wait
with. Past any limit a request is answered 429 with Retry-After instead of growing without bound."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from ..pipeline.errors import FaceswapError
from ..net.http_fetch import MAX_DOWNLOAD_BYTES, TIMEOUT_S


class Busy(FaceswapError):
    """The server is full for now; the request may be retried after retry_after_s."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ServerLimits:
    max_jobs: int = 64                      # queued or running
    max_queued_pixels: int = 1_000_000_000  # the images of unfinished jobs, in total (10 images of 100 MP)
    max_queued_bytes: int = 512 * 1024 * 1024
    fetch_timeout_s: float = TIMEOUT_S      # per image URL, the whole download
    max_fetch_bytes: int = MAX_DOWNLOAD_BYTES
    max_concurrent_fetches: int = 32
    retry_after_s: int = 5


@dataclass(frozen=True)
class Ticket:
    pixels: int
    nbytes: int
    id: str | None = None  # where tickets are kept by job (a cluster: redis_admission.py), the job's request id


# The admission rule, which every backend enforces (here in Python, in Redis as redis_admission.py's Lua
# mirror of refusal()): a job is refused when the queue holds max_jobs jobs, or when it would take the
# queued pixels or bytes past their budget while other jobs wait (a lone job larger than a budget is
# admitted when nothing is queued: refusing it would refuse it for good).
ADMITTED, QUEUE_FULL, PIXELS_FULL, BYTES_FULL = 0, 1, 2, 3


def refusal(limits: ServerLimits, jobs: int, pixels: int, nbytes: int, new_pixels: int, new_bytes: int) -> int:
    """Which limit refuses a job of new_pixels/new_bytes while jobs/pixels/nbytes are held (ADMITTED: none)."""
    if jobs >= limits.max_jobs:
        return QUEUE_FULL
    if jobs and pixels + new_pixels > limits.max_queued_pixels:
        return PIXELS_FULL
    if jobs and nbytes + new_bytes > limits.max_queued_bytes:
        return BYTES_FULL
    return ADMITTED


def busy(refused: int, limits: ServerLimits, pixels: int, nbytes: int, scope: str = "") -> Busy:
    """The 429 for a refusal; pixels/nbytes: what was held. scope: where the jobs are counted (a cluster)."""
    if refused == QUEUE_FULL:
        message = f"the queue is full ({limits.max_jobs} jobs{scope}); retry later"
    elif refused == PIXELS_FULL:
        message = (f"the queued jobs already hold {pixels / 1e6:.0f} MP of images (limit "
                   f"{limits.max_queued_pixels / 1e6:.0f} MP); retry later")
    else:
        message = (f"the queued jobs already hold {nbytes // 2**20} MiB of images (limit "
                   f"{limits.max_queued_bytes // 2**20} MiB); retry later")
    return Busy(message, limits.retry_after_s)


class AdmissionControl(Protocol):
    """What a backend counts its unfinished jobs with (Admission in this process, RedisAdmission for a cluster)."""

    limits: ServerLimits

    @property
    def jobs(self) -> int:
        """Jobs queued or running now."""

    def check_room(self) -> None:
        """Raise Busy early (before fetching anything) when the queue is already full."""

    def reserve(self, pixels: int, nbytes: int, force: bool = False) -> Ticket:
        """Take a place for a job (Busy when the rule refuses it; force: take it regardless, for a restart)."""

    def release(self, ticket: Ticket) -> None:
        """Give a job's place back, once, when it ends."""


class Admission:
    """Thread-safe counts of what unfinished jobs hold in this process; reserve() before queueing, release()
    when done."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.jobs = self.pixels = self.nbytes = 0

    def check_room(self) -> None:
        if self.jobs >= self.limits.max_jobs:
            raise busy(QUEUE_FULL, self.limits, self.pixels, self.nbytes)

    def reserve(self, pixels: int, nbytes: int, force: bool = False) -> Ticket:
        with self._lock:
            refused = ADMITTED if force else refusal(self.limits, self.jobs, self.pixels, self.nbytes, pixels, nbytes)
            if refused:
                raise busy(refused, self.limits, self.pixels, self.nbytes)
            self.jobs += 1
            self.pixels += pixels
            self.nbytes += nbytes
            return Ticket(pixels, nbytes)

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self.jobs -= 1
            self.pixels -= ticket.pixels
            self.nbytes -= ticket.nbytes
