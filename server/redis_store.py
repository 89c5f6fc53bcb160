"""The cluster job backend: jobs, inputs and results in Redis, run by arq workers (cluster_worker.py).
Any number of API processes share it; each key expires after its hour, as the local table's rows do.

Keys (prefix fsv3:): job:<id> a hash (state, params, times, attempts, the worker that ran it), input:<id>
the two encoded images while the job waits, result:<id> the finished image, admission the cluster's
counts (redis_admission.py), worker:<name> each worker's heartbeat and counts. The arq queue holds the
request id only; arq re-runs a job whose worker died (in-progress key expired), and the job's own
state decides whether there is anything left to do, so nothing runs twice once it has finished."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

from ..pipeline.params import FaceswapParams
from .admission import Ticket
from .job_runner import INTERNAL_ERROR, Outcome
from .redis_admission import ADMISSION_KEY
from ..pipeline.options import COMPLETED, FAILED, PROCESSING, QUEUED
from .job_store import RESULT_TTL_S, Job, StoreUnavailable

PREFIX = "fsv3:"
QUEUE = "fsv3:queue"
JOB_FUNCTION = "faceswap_job"
WORKERS_KEY = PREFIX + "workers"
INLINE_POLL_S = 0.02
STATES = (QUEUED, PROCESSING, COMPLETED, FAILED)

# KEYS: job, input; ARGV: worker name, time. Returns {params, source, target}, or nothing when the job is
# gone or finished (a second run of a finished job does nothing).
_BEGIN = """
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or state == 'COMPLETED' or state == 'FAILED' then return false end
redis.call('HSET', KEYS[1], 'state', 'PROCESSING', 'worker', ARGV[1], 'started', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
local inputs = redis.call('HMGET', KEYS[2], 'source', 'target')
return {redis.call('HGET', KEYS[1], 'params'), inputs[1] or false, inputs[2] or false}
"""
# KEYS: job, result, input, admission. ARGV: state, finished, error, inference_time, warnings, status,
# ttl, image, reason, c2pa. Only the first outcome of a job counts; it gives the job's admission back.
_FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or state == 'COMPLETED' or state == 'FAILED' then return 0 end
if ARGV[1] == 'COMPLETED' then redis.call('SET', KEYS[2], ARGV[8], 'EX', ARGV[7]) end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished', ARGV[2], 'error', ARGV[3], 'inference_time', ARGV[4],
           'warnings', ARGV[5], 'status', ARGV[6], 'reason', ARGV[9], 'c2pa', ARGV[10])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('DEL', KEYS[3])
local held = redis.call('HMGET', KEYS[1], 'pixels', 'input_bytes')
redis.call('HINCRBY', KEYS[4], 'jobs', -1)
redis.call('HINCRBY', KEYS[4], 'pixels', -tonumber(held[1] or '0'))
redis.call('HINCRBY', KEYS[4], 'nbytes', -tonumber(held[2] or '0'))
return 1
"""


def job_key(request_id: str) -> str:
    return f"{PREFIX}job:{request_id}"


def input_key(request_id: str) -> str:
    return f"{PREFIX}input:{request_id}"


def result_key(request_id: str) -> str:
    return f"{PREFIX}result:{request_id}"


def worker_key(name: str) -> str:
    return f"{PREFIX}worker:{name}"


def shown_url(url: str) -> str:
    """The Redis URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def unreachable(url: str, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"the job store (Redis at {shown_url(url)}) cannot be reached ({exc}); retry later")


def guarded(url: str, call, *args, **kwargs):
    """call(*args, **kwargs) on a synchronous Redis client; a lost connection becomes StoreUnavailable."""
    import redis

    try:
        return call(*args, **kwargs)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise unreachable(url, exc) from None


def check_reachable(url: str, timeout_s: float = 2.0) -> None:
    """Raise BadInput naming the URL when no Redis answers there (for the CLI: one line, exit 2)."""
    import redis

    from ..pipeline.errors import BadInput

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        client.ping()
        client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise BadInput(f"cannot reach Redis at {shown_url(url)} ({exc}); start redis-server or pass --redis "
                       "with the URL it listens on, e.g. redis://127.0.0.1:6379/0") from None


def _job(request_id: str, fields: dict[bytes, bytes]) -> Job:
    text = {k.decode(): v.decode() for k, v in fields.items()}
    finished, inference_time = text.get("finished") or None, text.get("inference_time") or None
    return Job(request_id, text["state"], json.loads(text["params"]), float(text["created"]),
               float(finished) if finished else None, text.get("error") or None,
               float(inference_time) if inference_time else None, json.loads(text.get("warnings") or "[]"),
               int(text.get("pixels", 0)), int(text.get("input_bytes", 0)), text.get("reason") or None,
               text.get("api_key") or None, text.get("c2pa") or None)


class RedisJobStore:
    """The JobStore of a cluster. url: redis://host:port/db; admission: the cluster's RedisAdmission
    (its ticket is given back by the worker that finishes the job)."""

    owns_uploads = False  # a job copies its images into Redis; the API deletes the uploads they came from

    def __init__(self, url: str, admission, ttl_s: float = RESULT_TTL_S, clock: Callable[[], float] = time.time,
                 socket_timeout_s: float = 2.0) -> None:
        self.url, self.admission, self.ttl_s, self.clock = url, admission, int(ttl_s), clock
        self.socket_timeout_s = socket_timeout_s
        self.redis = None

    async def start(self) -> None:
        from arq.connections import ArqRedis
        from redis.asyncio import ConnectionPool

        pool = ConnectionPool.from_url(self.url, socket_timeout=self.socket_timeout_s,
                                       socket_connect_timeout=self.socket_timeout_s)
        self.redis = ArqRedis(connection_pool=pool, default_queue_name=QUEUE)
        self._begin = self.redis.register_script(_BEGIN)
        self._finish = self.redis.register_script(_FINISH)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def ping(self) -> None:
        await self._call(self.redis.ping())

    async def _call(self, coroutine):
        """Await a Redis call; a lost connection becomes StoreUnavailable (503 with Retry-After)."""
        import redis

        try:
            return await coroutine
        except (redis.ConnectionError, redis.TimeoutError, OSError, asyncio.TimeoutError) as exc:
            raise unreachable(self.url, exc) from None

    # --- the API's side ------------------------------------------------------------------------
    async def submit(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket,
                     key_digest: str | None = None, uploads: list[str] | tuple = ()) -> Job:
        """uploads expire with their hour in Redis (redis_assets.py)."""
        job = Job(str(uuid.uuid4()), QUEUED, params.to_mapping(), self.clock(), pixels=ticket.pixels,
                  input_bytes=len(source) + len(target), api_key=key_digest)
        try:
            await self._call(self._store(job, source, target))
            queued = await self._call(self.redis.enqueue_job(JOB_FUNCTION, job.request_id, _job_id=job.request_id,
                                                             _expires=self.ttl_s))
            if queued is None:
                raise RuntimeError(f"request id {job.request_id} is already queued")
        except BaseException:
            self.admission.release(ticket)
            try:
                await asyncio.shield(self.redis.delete(job_key(job.request_id), input_key(job.request_id)))
            except Exception:  # noqa: BLE001 - the keys expire within the hour anyway
                pass
            raise
        return job

    async def _store(self, job: Job, source: bytes, target: bytes) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(job_key(job.request_id), mapping={
                "state": QUEUED, "params": json.dumps(job.params), "created": job.created, "pixels": job.pixels,
                "input_bytes": job.input_bytes, "attempts": 0, "api_key": job.api_key or ""})
            pipe.expire(job_key(job.request_id), self.ttl_s)
            pipe.hset(input_key(job.request_id), mapping={"source": source, "target": target})
            pipe.expire(input_key(job.request_id), self.ttl_s)
            await pipe.execute()

    async def run_inline(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Outcome:
        """A v1 job runs on a worker like any other; this process waits for it, then forgets it."""
        job = await self.submit(params, source, target, ticket)
        try:
            while True:
                fields = await self._call(self.redis.hgetall(job_key(job.request_id)))
                state = fields.get(b"state", b"").decode()
                if state in (COMPLETED, FAILED) or not fields:
                    break
                await asyncio.sleep(INLINE_POLL_S)
            if state == COMPLETED:
                done = _job(job.request_id, fields)
                image = await self._call(self.redis.get(result_key(job.request_id)))
                return Outcome(image, done.warnings, done.inference_time or 0.0, c2pa=done.c2pa)
            if not fields:
                return Outcome(error=INTERNAL_ERROR, status=500)
            return Outcome(error=fields.get(b"error", b"").decode() or INTERNAL_ERROR,
                           status=int(fields.get(b"status", b"500")))
        finally:
            await asyncio.shield(self.delete(job.request_id))

    async def get(self, request_id: str) -> Job | None:
        fields = await self._call(self.redis.hgetall(job_key(request_id)))
        return _job(request_id, fields) if fields.get(b"state") else None

    async def result(self, request_id: str) -> bytes | None:
        return await self._call(self.redis.get(result_key(request_id)))

    async def delete(self, request_id: str) -> bool:
        state = await self._call(self.redis.hget(job_key(request_id), "state"))
        if state is None or state.decode() not in (COMPLETED, FAILED):
            return False  # an unfinished job is left to its worker, which gives its admission back
        return bool(await self._call(self.redis.delete(job_key(request_id), result_key(request_id),
                                                       input_key(request_id))))

    async def expire(self) -> None:
        """Redis expires every key by itself."""

    async def metrics(self) -> dict:
        return await self._call(self._metrics())

    async def _metrics(self) -> dict:
        per_state = dict.fromkeys(STATES, 0)
        async for key in self.redis.scan_iter(match=f"{PREFIX}job:*", count=500):
            state = await self.redis.hget(key, "state")
            if state is not None and state.decode() in per_state:
                per_state[state.decode()] += 1
        workers = {}
        for name in sorted(await self.redis.smembers(WORKERS_KEY)):
            fields = await self.redis.hgetall(worker_key(name.decode()))
            if fields:
                workers[name.decode()] = {k.decode(): float(v) for k, v in fields.items()}
            else:
                await self.redis.srem(WORKERS_KEY, name)  # its heartbeat expired: it is gone
        queued = await self.redis.zcard(QUEUE)
        return {"backend": "redis", "queue_depth": queued, "jobs": per_state, "workers": workers}

    # --- the worker's side -------------------------------------------------------------------------
    async def begin(self, request_id: str, worker: str) -> tuple[dict, bytes | None, bytes | None] | None:
        """Mark the job PROCESSING (one more attempt) and return (params, source, target); None when it
        is gone or already finished. source/target are None when the inputs expired."""
        found = await self._begin(keys=[job_key(request_id), input_key(request_id)], args=[worker, self.clock()])
        if not found:
            return None
        params, source, target = found
        return json.loads(params), source or None, target or None

    async def finish(self, request_id: str, outcome: Outcome) -> bool:
        """Record the job's first outcome (later ones are ignored) and give its admission back."""
        state = COMPLETED if outcome.error is None else FAILED
        return bool(await self._finish(
            keys=[job_key(request_id), result_key(request_id), input_key(request_id), ADMISSION_KEY],
            args=[state, self.clock(), outcome.error or "", outcome.inference_time if outcome.error is None else "",
                  json.dumps(outcome.warnings), outcome.status if outcome.error else 200, self.ttl_s,
                  outcome.image or b"", outcome.reason or "", outcome.c2pa or ""]))

    async def heartbeat(self, worker: str, counts: dict[str, float], ttl_s: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(WORKERS_KEY, worker)
            pipe.hset(worker_key(worker), mapping={**counts, "heartbeat": self.clock()})
            pipe.expire(worker_key(worker), ttl_s)
            await pipe.execute()
