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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ..pipeline.swap_models import SwapModels
from ..pipeline.params import FaceswapParams
from .batch_merger import MergeCounts
from .embedding_cache import CachedSourceEngine, SourceEmbeddingCache
from ..pipeline.provenance.c2pa_manifest import C2paSigner
from ..pipeline.content_check import ContentCheck
from .job_execution import JobExecution, Outcome
from .rate_limited_log import RateLimitedLog
from .redis_store import JOB_FUNCTION, QUEUE, RedisJobStore, job_from_data, job_to_data, shown_url

log = logging.getLogger("faceswap_v3.worker")
MAX_ATTEMPTS = 2
HEARTBEAT_S = 2.0
DIED_TOO_OFTEN = ("a worker stopped {n} time{s} while running this job; it was not tried again "
                  "(it may be too large for this cluster's workers)")
RECORD_RETRIES_S = (0.5, 1, 2, 4, 8, 15, 30, 60)
RECONNECT_S = 1.0
REDIS_GRACE_S = 60.0  # how long a worker waits for a Redis that does not answer before it exits
INPUTS_EXPIRED = "the job waited longer than its hour in the queue and its images expired; submit it again"
TIMED_OUT = "the job ran longer than this cluster's limit of {seconds:g} s"
DAMAGED_PARAMS = "the job's stored parameters are damaged (not a JSON object this worker can read); submit it again"


class RedisLost(Exception):
    """Redis has not answered this worker for longer than its grace period: the worker exits (its supervisor
    restarts it, and its unrecorded jobs are taken again by other workers)."""


class ClusterWorker:
    """engine: JobInput -> (image bytes, warnings); None for the real one with the source-embedding cache.
    on_stop, when set, is called once the worker has decided to stop (a signal, or Redis lost)."""

    def __init__(self, store: RedisJobStore, models: SwapModels, engine: Callable | None = None,
                 name: str | None = None, max_attempts: int = MAX_ATTEMPTS, job_timeout_s: float = 600.0,
                 content_check: ContentCheck | None = None, signer: C2paSigner | None = None,
                 jobs_at_once: int = 1, merged: MergeCounts | None = None,
                 redis_grace_s: float = REDIS_GRACE_S) -> None:
        self.store, self.models, self.max_attempts, self.job_timeout_s = store, models, max_attempts, job_timeout_s
        self.jobs_at_once, self.merged = jobs_at_once, merged
        self.stopping = False
        self.on_stop: Callable[[], None] | None = None
        self.redis_grace_s = redis_grace_s
        self.lost: RedisLost | None = None
        self.cache = SourceEmbeddingCache()
        self.execution = JobExecution(models, engine or CachedSourceEngine(self.cache), content_check, signer)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.jobs = self.errors = 0
        self.signer_log = RateLimitedLog(log, interval_s=3600.0)
        # the engine runs on these threads only: a timed-out job's thread stays taken until its engine stops
        # (at its next face or frame), and no job starts while every thread is taken
        self.engine_threads = ThreadPoolExecutor(jobs_at_once, thread_name_prefix="faceswap-job")
        self._running: dict[asyncio.Future, threading.Event] = {}

    @property
    def busy_threads(self) -> int:
        """Engine threads running a job now (one that timed out included, until its engine stops)."""
        return len(self._running)

    def stop_requested(self, _signal=None) -> None:
        self.stopping = True
        self.cancel_running()
        if self.on_stop is not None:
            self.on_stop()

    def cancel_running(self) -> None:
        """Tell every running engine to stop at its next face or frame (a stopping worker's jobs are taken again
        by other workers)."""
        for cancel in list(self._running.values()):
            cancel.set()

    def counts(self) -> dict[str, float]:
        counts = {"jobs": self.jobs, "errors": self.errors, "source_embeddings": self.cache.computed,
                  "jobs_at_once": self.jobs_at_once, "busy_threads": self.busy_threads}
        signer = self.execution.signer
        if signer is not None:
            counts["c2pa_certificate_expires"] = signer.expires
            warning = signer.expiry_warning()
            if warning:
                self.signer_log.warning("c2pa-expired" if signer.problem() else "c2pa-expiry", "%s", warning)
        if self.merged is not None:
            counts.update(merged_model_calls=self.merged.calls, merged_model_inputs=self.merged.inputs)
        return counts

    async def run(self, request_id: str, attempt: int) -> str:
        """Run one queued job; returns the state it ended in (or 'skipped' when it had finished already)."""
        if attempt > self.max_attempts:
            died = DIED_TOO_OFTEN.format(n=self.max_attempts, s="s" if self.max_attempts > 1 else "")
            await self.store.finish(request_id, Outcome(error=died, status=500))
            return "FAILED"
        await self._thread_free()
        started = await self.store.begin(request_id, self.name)
        if started is None:
            await self.store.give_back(request_id)  # gone (its hour ran out) or finished: its place, if still held
            return "skipped"
        stored_params, source, target = started
        running = None
        try:
            if stored_params is None:
                raise ValueError("not a JSON object")
            params = FaceswapParams.from_mapping(stored_params)
        except Exception:  # noqa: BLE001 - damaged or foreign data, or parameters of another version
            log.exception("job %s: its stored parameters cannot be read", request_id)
            outcome = Outcome(error=DAMAGED_PARAMS, status=500)
        else:
            if source is None or target is None:
                outcome = Outcome(error=INPUTS_EXPIRED, status=400)
            else:
                running = self._start(params, source, target)
                outcome = await self._outcome(request_id, running)
        self.jobs += 1
        self.errors += outcome.error is not None
        await self._record(request_id, outcome)
        if running is not None and not running.done():
            await asyncio.wait([running])  # arq takes no other job into this slot while the engine still runs
        return "COMPLETED" if outcome.error is None else "FAILED"

    def _start(self, params: FaceswapParams, source: bytes, target: bytes) -> asyncio.Future:
        cancel = threading.Event()
        try:
            running = asyncio.get_running_loop().run_in_executor(self.engine_threads, self.execution.execute,
                                                                 params, source, target, cancel)
        except RuntimeError:  # the engine threads were shut down (serve_worker's end) while arq still gave a job
            raise asyncio.CancelledError("the worker is stopping: the job goes back for another worker") from None
        self._running[running] = cancel
        running.add_done_callback(self._running.pop)
        return running

    async def _outcome(self, request_id: str, running: asyncio.Future) -> Outcome:
        """The job's outcome, or TIMED_OUT once it has run job_timeout_s (its engine is told to stop)."""
        try:
            return await asyncio.wait_for(asyncio.shield(running), self.job_timeout_s)
        except asyncio.TimeoutError:
            self._running.get(running, threading.Event()).set()
            log.warning("job %s ran past the %g s limit (--job-timeout): FAILED, its engine is told to stop",
                        request_id, self.job_timeout_s)
            return Outcome(error=TIMED_OUT.format(seconds=self.job_timeout_s), status=500)
        except asyncio.CancelledError:
            self._running.get(running, threading.Event()).set()  # the worker stops: another worker takes the job
            raise

    async def _thread_free(self) -> None:
        """Wait for an engine thread: a timed-out job's thread is taken until its engine stops."""
        while len(self._running) >= self.jobs_at_once:
            await asyncio.wait(list(self._running), return_when=asyncio.FIRST_COMPLETED)

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

    async def beat(self, serving: asyncio.Task) -> None:
        """Publish this worker's heartbeat every HEARTBEAT_S; once Redis has not answered for redis_grace_s,
        set self.lost and stop serving."""
        import redis

        unanswered_since = None
        while True:
            try:
                await self.store.heartbeat(self.name, self.counts(), int(HEARTBEAT_S * 5))
                if unanswered_since is not None:
                    log.info("Redis at %s answers again", shown_url(self.store.url))
                unanswered_since = None
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                now = time.monotonic()
                if unanswered_since is None:
                    unanswered_since = now
                    log.warning("Redis at %s does not answer (%s); this worker exits if it does not answer "
                                "within %g s", shown_url(self.store.url), exc, self.redis_grace_s)
                elif now - unanswered_since >= self.redis_grace_s:
                    self.lost = RedisLost(
                        f"Redis at {shown_url(self.store.url)} has not answered for {self.redis_grace_s:g} s "
                        "(--redis-grace); this worker stops so that its supervisor can restart it")
                    self.stop_requested()
                    cancel_until_done(serving)
                    return
            except Exception:  # noqa: BLE001 - Redis refused one heartbeat: the next one tries again
                log.warning("heartbeat to Redis failed", exc_info=True)
            await asyncio.sleep(HEARTBEAT_S)


async def faceswap_job(ctx: dict, request_id: str) -> str:
    return await ctx["cluster_worker"].run(request_id, ctx["job_try"])


async def serve_worker(worker: ClusterWorker, poll_delay_s: float = 0.01, handle_signals: bool = True) -> None:
    """Take jobs from the cluster's queue until SIGTERM/SIGINT (or until cancelled: handle_signals False
    runs it off the main thread); when Redis goes away, wait for it and go on (a job it was running is
    taken again once its in-progress key expires), but raise RedisLost once it has not answered for the
    worker's grace period."""
    import redis

    await worker.store.start()
    serving = asyncio.current_task()
    beat = asyncio.get_running_loop().create_task(worker.beat(serving))
    try:
        while not worker.stopping:
            try:
                await _take_jobs(worker, poll_delay_s, handle_signals, serving)
                return
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if worker.stopping or serving.cancelling():
                    break  # a stop that cut a Redis command short can surface as a lost connection: still a stop
                log.warning("lost Redis at %s (%s); reconnecting", shown_url(worker.store.url), exc)
                await _wait_for_redis(worker.store)
    except asyncio.CancelledError:
        pass  # SIGTERM/SIGINT, Redis lost for good, or the caller's cancel
    finally:
        beat.cancel()
        worker.cancel_running()
        worker.engine_threads.shutdown(wait=False, cancel_futures=True)
    if worker.lost is not None:
        raise worker.lost
    log.info("worker %s stopped", worker.name)


async def _take_jobs(worker: ClusterWorker, poll_delay_s: float, handle_signals: bool,
                     serving: asyncio.Task) -> None:
    from arq.worker import Worker, func

    arq_worker = Worker(
        functions=[func(faceswap_job, name=JOB_FUNCTION, max_tries=worker.max_attempts + 1,
                        timeout=worker.job_timeout_s + sum(RECORD_RETRIES_S) + 10)],
        redis_pool=worker.store.redis, queue_name=QUEUE, max_jobs=worker.jobs_at_once, keep_result=0,
        poll_delay=poll_delay_s, ctx={"cluster_worker": worker}, handle_signals=handle_signals,
        job_serializer=job_to_data, job_deserializer=job_from_data)
    # keep_result=0: arq keeps no record of its own (ids and times) past a job; the job's hash is its record, and
    # a v1 job's goes as soon as its answer is read.
    # arq's own timeout must never cut a job short (it would leave it PROCESSING for good): ours ends the
    # engine's run, and recording waits out a Redis outage. How soon a dead worker's job is taken again
    # is arq's in-progress key: our job timeout and a margin (a job whose outcome could not be recorded
    # for that long may run twice; its first outcome is the one kept).
    arq_worker.in_progress_timeout_s = worker.job_timeout_s + 2
    loop = asyncio.get_running_loop()

    def on_stop(signal) -> None:  # arq's SIGTERM/SIGINT handler (it stays installed while Redis is awaited)
        worker.stop_requested(signal)
        loop.call_soon(cancel_until_done, arq_worker.main_task)
        loop.call_soon(cancel_until_done, serving)

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
