"""The default backend: one process, jobs and uploads in an SQLite file (or in memory), run one at a time
on this process's worker thread, admission counted in this process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..pipeline.provenance.c2pa_manifest import manifest_note
from .admission import Admission
from .assets import AssetStore
from .backend import Backend, BackendFactory, BackendSettings
from .database import Database
from .job_execution import JobExecution
from .job_runner import JobRunner
from .job_table import JobTable
from .local_store import LocalJobStore


@dataclass
class LocalBackend(Backend):
    database: Database | None = None
    jobs: JobTable | None = None
    runner: JobRunner | None = None


def local_backend(data_dir: Path | None = None) -> BackendFactory:
    """data_dir: where jobs and uploads are kept across restarts (None: in memory only). Raises
    DataDirInUse when another server holds it."""

    def make(settings: BackendSettings) -> LocalBackend:
        database = Database(data_dir)
        jobs = JobTable(settings.clock, settings.result_ttl_s, settings.max_results, database)
        admission = Admission(settings.limits)
        runner = JobRunner(JobExecution(settings.models, settings.engine, settings.content_check, settings.signer),
                           jobs, admission)

        def close() -> None:
            runner.worker.shutdown(wait=True)
            database.close()

        return LocalBackend(LocalJobStore(jobs, runner, admission), admission,
                            AssetStore(database, settings.clock, ttl_s=settings.result_ttl_s),
                            manifest_note(settings.signer), close, database, jobs, runner)

    return make
