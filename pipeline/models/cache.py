"""Where loaded models live. By default each model is built once per process and kept; a host
application (ComfyUI, through nodes/comfy_env/comfy_models.py) can install its own cache to manage them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Protocol, TypeVar

T = TypeVar("T")


class ModelCache(Protocol):
    def get(self, kind: str, path: Path, device: str | None, build: Callable[[], T]) -> T:
        """The model of this kind built from path for device, building it with build() when missing.
        Called each time a model is about to be used, from any thread (the server's worker, a job's
        read-ahead thread, ComfyUI's): an implementation builds each model once however many ask."""
        ...


class ProcessModelCache:
    """Every model built once and kept for the life of the process (CLI, server, tests)."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str], object] = {}
        # One lock per model, held while it builds: a second caller for that model waits for it rather than
        # rebuild it, while a caller for another model (a detector beside a swapper) goes ahead.
        self._building: dict[tuple[str, str, str], threading.Lock] = {}
        self._table_lock = threading.Lock()

    def get(self, kind: str, path: Path, device: str | None, build: Callable[[], T]) -> T:
        key = (kind, str(path), device or "")
        with self._table_lock:
            lock = self._building.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                self._models[key] = build()
            return self._models[key]


_active: ModelCache = ProcessModelCache()


def model_cache() -> ModelCache:
    return _active


def use_model_cache(cache: ModelCache) -> None:
    """Install the cache every later model lookup goes through."""
    global _active
    _active = cache
