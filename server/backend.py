"""Where a server's jobs live, behind one interface: a Backend is the job store, the admission counts and
the upload store of one kind of storage, made by a BackendFactory from the server's settings. The API
(app.py) sees only this; local_backend.py (SQLite and a worker thread in this process) and
redis_backend.py (Redis and arq workers, a cluster) make one each. A third kind of storage is one more
factory that returns these three collaborators."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..pipeline.provenance.c2pa_manifest import C2paSigner
from ..pipeline.content_check import ContentCheck
from ..pipeline.job_contract import RESULT_TTL_S
from ..pipeline.swap_models import SwapModels
from .admission import AdmissionControl, ServerLimits
from .job_store import JobStore
from .swap_request import run_job


class AssetStorage(Protocol):
    """Uploaded images (POST /upload-asset): each readable by any number of jobs until its own hour ends."""

    def add(self, data: bytes, content_type: str, extension: str) -> str:
        """Keep an upload; its name (Busy when the storage is full)."""

    def get(self, name: str) -> tuple[bytes, str] | None:
        """(data, content type) of an upload, None when unknown or past its hour."""

    def delete(self, names: list[str]) -> int:
        """Remove these uploads now; how many there were."""

    def expire(self) -> int:
        """Remove the uploads past their hour; how many went."""


@dataclass(frozen=True)
class BackendSettings:
    """What every backend is made from: the server's models, engine, limits, clock and result lifetime,
    and the content check and signer its jobs run with."""

    models: SwapModels
    engine: Callable = run_job
    limits: ServerLimits = field(default_factory=ServerLimits)
    clock: Callable[[], float] = time.time
    result_ttl_s: float = RESULT_TTL_S
    max_results: int = 1000
    content_check: ContentCheck | None = None
    signer: C2paSigner | None = None


@dataclass
class Backend:
    """store: the jobs; admission: what unfinished jobs hold; assets: the uploads. manifest_note: what a
    result says of its C2PA manifest when its job recorded nothing. close: release what the backend holds
    (after the store's own async close), waiting for a job that is running."""

    store: JobStore
    admission: AdmissionControl
    assets: AssetStorage
    manifest_note: str
    close: Callable[[], None]


BackendFactory = Callable[[BackendSettings], Backend]
