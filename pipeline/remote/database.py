"""The server's SQLite database: one file in the data directory, used by one server process at a time."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from ..models.locate import user_cache_root

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


class DataDirInUse(RuntimeError):
    pass


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
            self._lock_file = _lock_exclusively(data_dir / "server.lock")
            target = str(data_dir / DB_FILE)
        self.connection = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if data_dir is not None:
            os.chmod(data_dir / DB_FILE, 0o600)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")  # survives a killed process, not a power cut
        self.connection.executescript(_SCHEMA)

    def execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.connection.execute(sql, args)

    def close(self) -> None:
        with self.lock:
            self.connection.close()
        if self._lock_file is not None:
            self._lock_file.close()


def _lock_exclusively(path: Path):
    import fcntl

    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(f"another server is using the data directory {path.parent}; stop it or pass "
                           "--data-dir with another folder") from None
    return handle
