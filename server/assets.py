"""Uploaded images (the storage endpoint Segmind's clients upload to): PNG, JPEG and WebP only, a
size and count cap. An upload is an asset of its own: any number of jobs may read it (a client uploads a
source once and reuses its URL for every frame of a batch), and it goes at its hour, counted from the
upload, or on an explicit DELETE /assets/{name}, never because a job that read it ended (a job keeps its
own copies of its images, deleted when it ends)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

from ..pipeline.errors import BadInput
from ..pipeline.runtime.images import decode_image, probe_image
from .database import Database
from .admission import Busy

ASSET_FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}
MAX_ASSET_BYTES = 20 * 1024 * 1024
MAX_ASSETS = 256
ASSET_TTL_S = 3600.0
_one_decode_at_a_time = threading.Lock()


def checked_asset(data: bytes, what: str = "data_urls entry") -> tuple[str, str]:
    """(content type, extension) of an upload that is a PNG, JPEG or WebP that decodes, else BadInput.
    Decodes the whole image: run it off the event loop."""
    if len(data) > MAX_ASSET_BYTES:
        raise BadInput(f"{what} is {len(data)} bytes; the limit is {MAX_ASSET_BYTES}")
    header = probe_image(data, what, tuple(ASSET_FORMATS))
    with _one_decode_at_a_time:  # a 100 MP upload decodes to 300 MB: never several at once
        decode_image(data, what, tuple(ASSET_FORMATS))
    return ASSET_FORMATS[header.format]


class AssetStore:
    def __init__(self, database: Database, clock: Callable[[], float] = time.time, ttl_s: float = ASSET_TTL_S,
                 max_count: int = MAX_ASSETS, retry_after_s: int = 60) -> None:
        self.db, self.clock, self.ttl_s, self.max_count = database, clock, ttl_s, max_count
        self.retry_after_s = retry_after_s

    def add(self, data: bytes, content_type: str, extension: str) -> str:
        with self.db.lock:
            self.expire()
            if self.db.one("SELECT COUNT(*) FROM assets")[0] >= self.max_count:
                raise Busy(f"the asset storage is full ({self.max_count} images kept for "
                           f"{self.ttl_s / 60:.0f} minutes); retry later", self.retry_after_s)
            name = f"{uuid.uuid4().hex}.{extension}"
            self.db.execute("INSERT INTO assets (name, content_type, data, created) VALUES (?, ?, ?, ?)",
                            (name, content_type, data, self.clock()))
        return name

    def get(self, name: str) -> tuple[bytes, str] | None:
        row = self.db.one("SELECT data, content_type FROM assets WHERE name = ? AND created >= ?",
                          (name, self.clock() - self.ttl_s))
        return (row[0], row[1]) if row else None

    def delete(self, names: list[str]) -> int:
        """Remove these uploads now (DELETE /assets/{name}); how many there were."""
        with self.db.lock:
            gone = sum(self.db.execute("DELETE FROM assets WHERE name = ?", (name,)) for name in names)
            return self._flushed(gone)

    def expire(self) -> int:
        """Remove the uploads past their hour; how many went."""
        with self.db.lock:
            return self._flushed(self.db.execute("DELETE FROM assets WHERE created < ?",
                                                 (self.clock() - self.ttl_s,)))

    def _flushed(self, gone: int) -> int:
        """secure_delete zeroes deleted images in the database file; the write-ahead log still holds the pages
        as they were written, so it is emptied too."""
        if gone:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return gone
