"""A worker's source embeddings, kept by the hash of the source image's pixels and the parameters that pick its
faces, so a team swapping many targets onto one face pays for detecting and embedding the source once."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from ..pipeline.job import embed_source, source_request
from ..pipeline.swap_models import SwapModels
from ..pipeline.params import FaceswapParams
from .swap_request import JobInput, run_job


def source_key(source_rgb: np.ndarray, params: FaceswapParams, models: SwapModels) -> tuple:
    """What decides a source's embeddings: its pixels, how its faces are found and picked, the recognizer."""
    content = hashlib.sha256(np.ascontiguousarray(source_rgb).data).hexdigest()
    return (content, source_rgb.shape, repr(source_request(params)), tuple(params.source_indexes),
            models.recognizer_file)


class SourceEmbeddingCache:
    """The last max_entries sources' embeddings (least recently used go first); computed counts the misses."""

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self.computed = 0
        self._entries: OrderedDict[tuple, dict[int, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}

    def embeddings(self, source_rgb: np.ndarray, params: FaceswapParams, models: SwapModels) -> dict[int, np.ndarray]:
        key = source_key(source_rgb, params, models)
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:  # jobs running at once with one source: the first computes, the others wait for it
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            try:
                found = embed_source(source_rgb, params, models)  # BadInput (no face) is not cached: it is raised
                with self._lock:
                    self.computed += 1
                    self._entries[key] = found
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            return found


class CachedSourceEngine:
    """The server's engine (swap_request.run_job), with the source's embeddings from the cache."""

    def __init__(self, cache: SourceEmbeddingCache) -> None:
        self.cache = cache

    def __call__(self, job: JobInput) -> tuple[bytes, list[str]]:
        models = job.models or SwapModels()
        return run_job(replace(job, models=models, embeddings=self.cache.embeddings(job.source, job.params, models)))
