"""What the server takes on at once: jobs, and the pixels and encoded bytes of the images they wait
with. Past any limit a request is answered 429 with Retry-After instead of growing without bound."""

from __future__ import annotations

import threading
from dataclasses import dataclass

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


class Admission:
    """Thread-safe counts of what unfinished jobs hold; reserve() before queueing, release() when done."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.jobs = self.pixels = self.nbytes = 0

    def check_room(self) -> None:
        """Refuse early (before fetching anything) when the queue is already full."""
        if self.jobs >= self.limits.max_jobs:
            raise Busy(f"the queue is full ({self.limits.max_jobs} jobs); retry later", self.limits.retry_after_s)

    def reserve(self, pixels: int, nbytes: int, force: bool = False) -> Ticket:
        with self._lock:
            if not force:
                self.check_room()
                if self.jobs and self.pixels + pixels > self.limits.max_queued_pixels:
                    raise Busy(f"the queued jobs already hold {self.pixels / 1e6:.0f} MP of images (limit "
                               f"{self.limits.max_queued_pixels / 1e6:.0f} MP); retry later", self.limits.retry_after_s)
                if self.jobs and self.nbytes + nbytes > self.limits.max_queued_bytes:
                    raise Busy(f"the queued jobs already hold {self.nbytes // 2**20} MiB of images (limit "
                               f"{self.limits.max_queued_bytes // 2**20} MiB); retry later", self.limits.retry_after_s)
            self.jobs += 1
            self.pixels += pixels
            self.nbytes += nbytes
            return Ticket(pixels, nbytes)

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self.jobs -= 1
            self.pixels -= ticket.pixels
            self.nbytes -= ticket.nbytes
