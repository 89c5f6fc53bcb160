"""One cluster worker: an arq worker process that keeps its models loaded and runs the Faceswap V3 jobs
the API processes queued in Redis (one process per GPU, or per CPU slot), jobs_at_once at a time: the model
calls of jobs running together are merged into batches where the model takes one (batching_model_cache.py).

A job that fails for the client's reason (bad image, no face) or ours ends FAILED at once and is never
retried; a job whose worker died is run again by another worker once arq's in-progress key expires, up
to max_attempts runs, then FAILED with the reason. Each worker publishes a heartbeat with its counts
(jobs, errors, source embeddings computed) under fsv3:worker:<name>."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Callable

from ..pipeline.models.swap_models import SwapModels
from ..pipeline.params import FaceswapParams
from .batch_merger import MergeCounts
from .embedding_cache import CachedSourceEngine, SourceEmbeddingCache
from ..pipeline.c2pa_manifest import C2paSigner
from ..pipeline.content_check import ContentCheck
from .job_runner import INTERNAL_ERROR, JobRunner, Outcome
from .redis_store import JOB_FUNCTION, QUEUE, RedisJobStore

log = logging.getLogger("faceswap_v3.worker")
MAX_ATTEMPTS = 2
HEARTBEAT_S = 2.0
DIED_TOO_OFTEN = ("a worker stopped {n} time{s} while running this job; it was not tried again "
                  "(it may be too large for this cluster's workers)")
RECORD_RETRIES_S = (0.5, 1, 2, 4, 8, 15, 30, 60)
RECONNECT_S = 1.0
INPUTS_EXPIRED = "the job waited longer than its hour in the queue and its images expired; submit it again"


class ClusterWorker:
    """engine: JobInput -> (image bytes, warnings); None for the real one with the source-embedding cache."""

    def __init__(self, store: RedisJobStore, models: SwapModels, engine: Callable | None = None,
                 name: str | None = None, max_attempts: int = MAX_ATTEMPTS, job_timeout_s: float = 600.0,
                 content_check: ContentCheck | None = None, signer: C2paSigner | None = None,
                 jobs_at_once: int = 1, merged: MergeCounts | None = None) -> None:
        self.store, self.models, self.max_attempts, self.job_timeout_s = store, models, max_attempts, job_timeout_s
        self.jobs_at_once, self.merged = jobs_at_once, merged
        self.stopping = False
        self.cache = SourceEmbeddingCache()
        self.runner = JobRunner(models, engine or CachedSourceEngine(self.cache), None, None, content_check, signer)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.jobs = self.errors = 0

    def stop_requested(self, _signal=None) -> None:
        self.stopping = True

    def counts(self) -> dict[str, float]:
        counts = {"jobs": self.jobs, "errors": self.errors, "source_embeddings": self.cache.computed,
                  "jobs_at_once": self.jobs_at_once}
        if self.merged is not None:
            counts.update(merged_model_calls=self.merged.calls, merged_model_inputs=self.merged.inputs)
        return counts

    async def run(self, request_id: str, attempt: int) -> str:
        """Run one queued job; returns the state it ended in (or 'skipped' when it had finished already)."""
        if attempt > self.max_attempts:
            died = DIED_TOO_OFTEN.format(n=self.max_attempts, s="s" if self.max_attempts > 1 else "")
            await self.store.finish(request_id, Outcome(error=died, status=500))
            return "FAILED"
        started = await self.store.begin(request_id, self.name)
        if started is None:
            return "skipped"
        params, source, target = started
        if source is None or target is None:
            outcome = Outcome(error=INPUTS_EXPIRED, status=400)
        else:
            try:
                outcome = await asyncio.wait_for(asyncio.to_thread(
                    self.runner.execute, FaceswapParams.from_mapping(params), source, target), self.job_timeout_s)
            except asyncio.TimeoutError:
                outcome = Outcome(error=f"the job ran longer than this cluster's limit of {self.job_timeout_s:g} s",
                                  status=500)
            except Exception:  # noqa: BLE001 - parameters a worker of another version cannot read
                log.exception("job %s failed", request_id)
                outcome = Outcome(error=INTERNAL_ERROR, status=500)
        self.jobs += 1
        self.errors += outcome.error is not None
        await self._record(request_id, outcome)
        return "COMPLETED" if outcome.error is None else "FAILED"

    async def _record(self, request_id: str, outcome: Outcome) -> None:
        """Write the outcome, waiting out a Redis that is away for a while (the job is not run again)."""
        import redis

        for wait in RECORD_RETRIES_S:
            try:
                await self.store.finish(request_id, outcome)
                await self.store.heartbeat(self.name, self.counts(), int(HEARTBEAT_S * 5))
                return
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                log.warning("cannot record job %s: Redis is away; trying again in %g s", request_id, wait)
                await asyncio.sleep(wait)
        await self.store.finish(request_id, outcome)

    async def beat(self) -> None:
        while True:
            try:
                await self.store.heartbeat(self.name, self.counts(), int(HEARTBEAT_S * 5))
            except Exception:  # noqa: BLE001 - Redis away for a moment: the next beat tries again
                log.warning("heartbeat to Redis failed", exc_info=True)
            await asyncio.sleep(HEARTBEAT_S)


async def faceswap_job(ctx: dict, request_id: str) -> str:
    return await ctx["cluster_worker"].run(request_id, ctx["job_try"])


async def serve_worker(worker: ClusterWorker, poll_delay_s: float = 0.01, handle_signals: bool = True) -> None:
    """Take jobs from the cluster's queue until SIGTERM/SIGINT (or until cancelled: handle_signals False
    runs it off the main thread); when Redis goes away, wait for it and go on (a job it was running is
    taken again once its in-progress key expires)."""
    import redis

    await worker.store.start()
    beat = asyncio.get_running_loop().create_task(worker.beat())
    try:
        while True:
            try:
                await _take_jobs(worker, poll_delay_s, handle_signals)
                return
            except asyncio.CancelledError:
                log.info("worker %s stopped", worker.name)  # SIGTERM/SIGINT: arq cancelled its main task
                return
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if worker.stopping or asyncio.current_task().cancelling():
                    # a stop that cut a Redis command short can surface as a lost connection: still a stop
                    log.info("worker %s stopped", worker.name)
                    return
                log.warning("lost Redis (%s); reconnecting", exc)
                await _wait_for_redis(worker.store)
    finally:
        beat.cancel()


async def _take_jobs(worker: ClusterWorker, poll_delay_s: float, handle_signals: bool) -> None:
    from arq.worker import Worker, func

    arq_worker = Worker(
        functions=[func(faceswap_job, name=JOB_FUNCTION, max_tries=worker.max_attempts + 1,
                        timeout=worker.job_timeout_s + sum(RECORD_RETRIES_S) + 10)],
        redis_pool=worker.store.redis, queue_name=QUEUE, max_jobs=worker.jobs_at_once, keep_result=worker.store.ttl_s,
        poll_delay=poll_delay_s, ctx={"cluster_worker": worker}, handle_signals=handle_signals)
    # arq's own timeout must never cut a job short (it would leave it PROCESSING for good): ours ends the
    # engine's run, and recording waits out a Redis outage. How soon a dead worker's job is taken again
    # is arq's in-progress key: our job timeout and a margin (a job whose outcome could not be recorded
    # for that long may run twice; its first outcome is the one kept).
    arq_worker.in_progress_timeout_s = worker.job_timeout_s + 2
    loop = asyncio.get_running_loop()

    def on_stop(signal) -> None:  # arq's SIGTERM/SIGINT handler, before it cancels its main task
        worker.stop_requested(signal)
        loop.call_soon(cancel_until_done, arq_worker.main_task)

    arq_worker.on_stop = on_stop
    await arq_worker.async_run()


def cancel_until_done(task: asyncio.Task | None, every_s: float = 0.5) -> None:
    """Cancel task, and again every every_s until it ends: on Python 3.11 a cancellation that lands while a
    timeout inside the task expires (redis-py's, arq's wait_for) can be swallowed, and the worker would
    go on taking jobs after its stop."""
    if task is not None and not task.done():
        task.cancel()
        asyncio.get_running_loop().call_later(every_s, cancel_until_done, task, every_s)


async def _wait_for_redis(store: RedisJobStore) -> None:
    while True:
        await asyncio.sleep(RECONNECT_S)
        try:
            await store.redis.ping()
            return
        except Exception:  # noqa: BLE001 - still away
            continue
