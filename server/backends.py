"""Which backend a server runs on, from what its operator said: --redis names a cluster, else this process
keeps its jobs (in --data-dir, or in memory)."""

from __future__ import annotations

from pathlib import Path

from .backend import BackendFactory


def backend_for(redis_url: str | None = None, data_dir: Path | None = None) -> BackendFactory:
    if redis_url is not None:
        from .redis_backend import redis_backend

        return redis_backend(redis_url)
    from .local_backend import local_backend

    return local_backend(data_dir)
