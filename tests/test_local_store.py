"""The default job backend behind the JobStore interface (server/local_store.py): the SQLite table and the
worker thread, driven through the interface as the routes drive it."""

from __future__ import annotations

import asyncio
import threading

from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.server.admission import Admission, ServerLimits
from faceswap_v3.server.job_execution import JobExecution
from faceswap_v3.server.job_runner import JobRunner
from faceswap_v3.server.job_table import JobTable
from faceswap_v3.server.local_store import LocalJobStore
from server_harness import png_bytes, stand_in_engine


def test_the_local_store_deletes_only_finished_jobs_and_gives_each_ticket_back_once():
    release = threading.Event()

    def held_engine(job):
        assert release.wait(30)
        return stand_in_engine(job)

    admission = Admission(ServerLimits(max_jobs=4))
    jobs = JobTable()
    store = LocalJobStore(jobs, JobRunner(JobExecution(SwapModels(), held_engine), jobs, admission), admission)
    params = FaceswapParams.from_mapping({"image_format": "png"})

    async def scenario():
        await store.start()
        job = await store.submit(params, png_bytes(), png_bytes(), admission.reserve(64 * 48 * 2, 100))
        assert admission.jobs == 1 and not await store.delete(job.request_id)  # running: kept
        release.set()
        while (await store.get(job.request_id)).state != "COMPLETED":
            await asyncio.sleep(0.01)
        assert (await store.metrics())["jobs"]["COMPLETED"] == 1 and admission.jobs == 0
        assert (await store.result(job.request_id))[:8] == b"\x89PNG\r\n\x1a\n"
        assert await store.delete(job.request_id) and await store.get(job.request_id) is None
        assert not await store.delete(job.request_id)
        await store.close()

    asyncio.run(scenario())
    assert admission.jobs == 0 and admission.pixels == 0
