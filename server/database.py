"""The server's SQLite database: one file in the data directory, used by one server process at a time."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from ..pipeline.errors import FaceswapError
from ..pipeline.models.locate import user_cache_root

DB_FILE = "server.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    request_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    params TEXT NOT NULL,
    source BLOB,
    target BLOB,
    pixels INTEGER NOT NULL DEFAULT 0,
    input_bytes INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    result BLOB,
    error TEXT,
    inference_time REAL,
    warnings TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created);
CREATE TABLE IF NOT EXISTS assets (
    name TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    created REAL NOT NULL
);
"""
_ADDED_COLUMNS = {"jobs": ("reason TEXT", "api_key TEXT")}


class DataDirInUse(RuntimeError):
    pass


class StorageFull(FaceswapError):
    """The data volume (or SQLite) has no room left: answered 507 with Retry-After, never 500."""

    retry_after_s = 60


def default_data_dir() -> Path:
    """Beside the models in the user cache: ~/.cache/faceswap_v3/server."""
    return user_cache_root().parent / "server"


class Database:
    """One connection shared by the event loop and the worker thread, serialised by a lock.
    data_dir None keeps everything in memory (nothing survives the process)."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.lock = threading.RLock()
        self._lock_file = None
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir = Path(data_dir).expanduser()
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock_file = _lock_exclusively(data_dir)
            target = str(data_dir / DB_FILE)
        self.connection = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if data_dir is not None:
            os.chmod(data_dir / DB_FILE, 0o600)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")  # survives a killed process, not a power cut
        self.connection.execute("PRAGMA secure_delete=ON")  # deleted images are overwritten, not just unlinked
        self.connection.executescript(_SCHEMA)
        for table, columns in _ADDED_COLUMNS.items():
            present = {row[1] for row in self.connection.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.split()[0] not in present:
                    self.connection.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    def execute(self, sql: str, args: tuple = ()) -> int:
        """Run one statement; returns how many rows it changed. StorageFull when the disk (or the database)
        is full."""
        with self.lock:
            return self._run(sql, args).rowcount

    def one(self, sql: str, args: tuple = ()) -> tuple | None:
        """The first row of a query, read while the lock is held (the cursor never outlives it)."""
        with self.lock:
            return self._run(sql, args).fetchone()

    def all(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock:
            return self._run(sql, args).fetchall()

    def _run(self, sql: str, args: tuple) -> sqlite3.Cursor:
        """One statement, the lock held by the caller; a full disk becomes StorageFull."""
        try:
            return self.connection.execute(sql, args)
        except sqlite3.Error as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL:
                raise StorageFull("the server's storage is full; retry later (its operator must free disk "
                                  "space in the data directory)") from None
            raise

    def close(self) -> None:
        with self.lock:
            self.connection.close()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None


def _lock_exclusively(data_dir: Path) -> int:
    """An OS lock (flock) on the data directory itself, held on an open descriptor until close() or the
    process ends: no file whose deletion could let a second server in."""
    import fcntl

    handle = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(handle)
        raise DataDirInUse(f"another server is using the data directory {data_dir}; stop it or pass "
                           "--data-dir with another folder") from None
    return handle
