"""The cluster job backend: jobs, inputs and results in Redis, run by arq workers (cluster_worker.py).
Any number of API processes share it. A job's keys expire an hour after it was queued, and again an hour
after it ended, as the local table's rows do; the admission counts and the set of workers never expire.

Keys (prefix fsv3:): job:<id> a hash (state, params, times, attempts, the worker that ran it), input:<id>
the two encoded images while the job waits, result:<id> the finished image, admission the cluster's
counts (redis_admission.py), worker:<name> each worker's heartbeat and counts. The arq queue holds the
request id only; arq re-runs a job whose worker died (in-progress key expired), and the job's own
state decides whether there is anything left to do, so nothing runs twice once it has finished."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..pipeline.params import FaceswapParams
from .admission import Ticket
from .job_execution import INTERNAL_ERROR, Outcome
from .rate_limited_log import log_once
from .redis_admission import ADMISSION_KEY, GIVE_BACK, TICKETS_KEY, give_back_lua, stored_ticket
from ..pipeline.job_contract import COMPLETED, FAILED, FINISHED, JOB_STATES, PROCESSING, QUEUED, RESULT_TTL_S
from .job_store import Job, StoreUnavailable

log = logging.getLogger("faceswap_v3.server")

PREFIX = "fsv3:"
QUEUE = "fsv3:queue"
JOB_FUNCTION = "faceswap_job"
WORKERS_KEY = PREFIX + "workers"
WAITER_TTL_S = 10  # a v1 job's waiter renews fsv3:waiter:<id> every WAIT_STEP_S; gone, nobody reads the job
WAIT_STEP_S = 1.0  # a v1 waiter's BLPOP on fsv3:done:<id> (below the connection's 2 s socket timeout)
CLIENT_LEFT = "the client of this v1 request went away before its answer"
ARQ_RESULT = "arq:result:"  # arq's record of a finished job (ids and times, no image)
UNAVAILABLE = "the job store is unavailable; retry later"  # clients never learn where it is
DAMAGED = "this job's stored record is damaged (a field is not what this server wrote); submit it again"
# Lua: whether `state` (a job hash's state field) is one a job never leaves
_IS_FINISHED = " or ".join(f"state == '{state}'" for state in sorted(FINISHED))

# KEYS: job, input, tickets, admission, waiter; ARGV: worker name, time, request id. Returns {params, source,
# target}, or nothing when the job is gone or finished (a second run of a finished job does nothing), or is a v1
# job nobody waits for any more (then it goes, and gives its place back).
_BEGIN = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or {_IS_FINISHED} then return false end
if redis.call('HGET', KEYS[1], 'v1') == '1' and redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  {give_back_lua("KEYS[3]", "KEYS[4]", "ARGV[3]")}
  return false
end
redis.call('HSET', KEYS[1], 'state', '{PROCESSING}', 'worker', ARGV[1], 'started', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
local inputs = redis.call('HMGET', KEYS[2], 'source', 'target')
return {{redis.call('HGET', KEYS[1], 'params'), inputs[1] or false, inputs[2] or false}}
"""
# KEYS: job, result, input, admission, tickets, waiter, done. ARGV: state, finished, error, inference_time,
# warnings, status, ttl, image, reason, c2pa, request id. Only the first outcome of a job counts; it gives the
# job's ticket back. A v1 job's outcome is kept only while its waiter is there (told on `done`), for WAITER_TTL_S.
_FINISH = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or {_IS_FINISHED} then return 0 end
local ttl = ARGV[7]
if redis.call('HGET', KEYS[1], 'v1') == '1' then
  ttl = '{WAITER_TTL_S}'
  if redis.call('EXISTS', KEYS[6]) == 0 then
    redis.call('DEL', KEYS[1], KEYS[3])
    {give_back_lua("KEYS[5]", "KEYS[4]", "ARGV[11]")}
    return 1
  end
  redis.call('RPUSH', KEYS[7], ARGV[1])
  redis.call('EXPIRE', KEYS[7], ttl)
end
if ARGV[1] == '{COMPLETED}' then redis.call('SET', KEYS[2], ARGV[8], 'EX', ttl) end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished', ARGV[2], 'error', ARGV[3], 'inference_time', ARGV[4],
           'warnings', ARGV[5], 'status', ARGV[6], 'reason', ARGV[9], 'c2pa', ARGV[10])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('DEL', KEYS[3])
{give_back_lua("KEYS[5]", "KEYS[4]", "ARGV[11]")}
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


def waiter_key(request_id: str) -> str:
    return f"{PREFIX}waiter:{request_id}"


def done_key(request_id: str) -> str:
    return f"{PREFIX}done:{request_id}"


def shown_url(url: str) -> str:
    """The Redis URL without its password, in every form redis-py reads one (redis://:pw@host,
    redis://user:pw@host, redis://host/0?password=pw, rediss://, unix://), for the operator's messages and logs."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            netloc = f"{user}:***@{hostport}" if colon else f"{userinfo}@{hostport}"
        query = parts.query
        if query:
            query = urlencode([(k, "***" if k.lower() == "password" else v)
                               for k, v in parse_qsl(query, keep_blank_values=True)], safe="*")
        return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
                + (f"#{parts.fragment}" if parts.fragment else ""))
    except ValueError:
        return "(a Redis URL that cannot be read)"


def unreachable(url: str, exc: BaseException) -> StoreUnavailable:
    """The 503 for a lost store: the client's answer names no address; the operator's log does."""
    log_once.warning("redis-unreachable", "the job store (Redis at %s) cannot be reached: %s", shown_url(url),
                     str(exc).replace(url, shown_url(url)))
    return StoreUnavailable(UNAVAILABLE)


def job_to_data(data: dict) -> bytes:
    """arq's job and result records as JSON: data only (arq's default, pickle, lets anyone who may write to
    Redis run code on every worker). An exception in a result is kept as its text."""
    return json.dumps(data, default=str).encode()


def job_from_data(data: bytes) -> dict:
    """An arq record written by job_to_data; anything else (a pickle) is refused, never run."""
    found = json.loads(data)
    if not isinstance(found, dict):
        raise ValueError("an arq record must be a JSON object")
    return found


def guarded(url: str, call, *args, **kwargs):
    """call(*args, **kwargs) on a synchronous Redis client; a lost connection becomes StoreUnavailable."""
    import redis

    try:
        return call(*args, **kwargs)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise unreachable(url, exc) from None


def check_reachable(url: str, timeout_s: float = 2.0) -> None:
    """Raise BadSetting naming the URL when no Redis answers there (for the CLI: one line, exit 2)."""
    import redis

    from ..pipeline.errors import BadSetting

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        client.ping()
        client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise BadSetting(f"cannot reach Redis at {shown_url(url)} ({exc}); start redis-server or pass --redis "
                       "with the URL it listens on, e.g. redis://127.0.0.1:6379/0") from None


def _job(request_id: str, fields: dict[bytes, bytes]) -> Job:
    """The Job of a job hash; one whose fields are not what a server wrote is FAILED with DAMAGED (who
    submitted it is kept, when readable, so that it stays scoped to that key)."""
    text = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()}
    try:
        finished, inference_time = text.get("finished") or None, text.get("inference_time") or None
        job = Job(request_id, text["state"], json.loads(text["params"]), float(text["created"]),
                  float(finished) if finished else None, text.get("error") or None,
                  float(inference_time) if inference_time else None, json.loads(text.get("warnings") or "[]"),
                  int(text.get("pixels", 0)), int(text.get("input_bytes", 0)), text.get("reason") or None,
                  text.get("api_key") or None, text.get("c2pa") or None)
        if (job.state not in JOB_STATES or not isinstance(job.params, dict) or not isinstance(job.warnings, list)
                or not all(isinstance(w, str) for w in job.warnings)):
            raise ValueError("a field holds a value of the wrong kind")
        return job
    except (KeyError, ValueError, TypeError, RecursionError):
        recorded = text.get("error") if text.get("state") == FAILED else None  # a worker found it damaged first
        return Job(request_id, FAILED, {}, _number(text.get("created")), _number(text.get("finished")),
                   recorded or DAMAGED, api_key=text.get("api_key") or None)


def _params(stored: bytes | None) -> dict | None:
    """A job's stored parameters, None when they are not a JSON object (damaged or foreign data)."""
    try:
        params = json.loads(stored or b"")
    except (ValueError, RecursionError):
        return None
    return params if isinstance(params, dict) else None


def _number(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


class RedisJobStore:
    """The JobStore of a cluster. url: redis://host:port/db; admission: the cluster's RedisAdmission
    (its ticket is given back by the worker that finishes the job)."""

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
        self.redis = ArqRedis(connection_pool=pool, default_queue_name=QUEUE, job_serializer=job_to_data,
                              job_deserializer=job_from_data)
        self._begin = self.redis.register_script(_BEGIN)
        self._finish = self.redis.register_script(_FINISH)
        self._give_back = self.redis.register_script(GIVE_BACK)

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
                     key_digest: str | None = None, inline: bool = False) -> Job:
        job = Job(ticket.id or str(uuid.uuid4()), QUEUED, params.to_mapping(), self.clock(), pixels=ticket.pixels,
                  input_bytes=len(source) + len(target), api_key=key_digest)
        try:
            await self._call(self._store(job, source, target, ticket, inline))
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

    async def _store(self, job: Job, source: bytes, target: bytes, ticket: Ticket, inline: bool) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(job_key(job.request_id), mapping={
                "state": QUEUED, "params": json.dumps(job.params), "created": job.created, "pixels": job.pixels,
                "input_bytes": job.input_bytes, "attempts": 0, "api_key": job.api_key or "", "v1": int(inline)})
            if inline:
                pipe.set(waiter_key(job.request_id), 1, ex=WAITER_TTL_S)
            pipe.expire(job_key(job.request_id), self.ttl_s)
            pipe.hset(input_key(job.request_id), mapping={"source": source, "target": target})
            pipe.expire(input_key(job.request_id), self.ttl_s)
            pipe.hset(TICKETS_KEY, job.request_id, stored_ticket(ticket))
            await pipe.execute()

    async def run_inline(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Outcome:
        """A v1 job runs on a worker like any other; this process waits for it (told on fsv3:done:<id>, renewing
        its waiter key), then forgets it. Cancelled (the client went away), the job goes at once; if this process
        dies, the worker drops the job, or its result, once the waiter key has expired."""
        job = await self.submit(params, source, target, ticket, inline=True)
        request_id = job.request_id
        try:
            while True:
                await self._call(self.redis.blpop([done_key(request_id)], timeout=WAIT_STEP_S))
                await self._call(self.redis.set(waiter_key(request_id), 1, ex=WAITER_TTL_S))
                fields = await self._call(self.redis.hgetall(job_key(request_id)))
                state = fields.get(b"state", b"").decode("utf-8", "replace")
                if state in FINISHED or not fields:
                    break
            if state == COMPLETED:
                done = _job(request_id, fields)
                image = await self._call(self.redis.get(result_key(request_id)))
                return Outcome(image, done.warnings, done.inference_time or 0.0, c2pa=done.c2pa)
            if not fields:
                return Outcome(error=INTERNAL_ERROR, status=500)
            return Outcome(error=fields.get(b"error", b"").decode() or INTERNAL_ERROR,
                           status=int(fields.get(b"status", b"500")))
        finally:
            await asyncio.shield(self._forget(request_id))

    async def _forget(self, request_id: str) -> None:
        """A v1 job, wherever it is: ended (its place given back), then every key of it gone, arq's included."""
        try:
            await self.finish(request_id, Outcome(error=CLIENT_LEFT, status=499))
            await self.redis.zrem(QUEUE, request_id)
            await self.redis.delete(job_key(request_id), result_key(request_id), input_key(request_id),
                                    waiter_key(request_id), done_key(request_id), ARQ_RESULT + request_id,
                                    f"arq:job:{request_id}")
        except Exception:  # noqa: BLE001 - Redis away: the worker drops it once the waiter key has expired
            log.warning("could not remove the v1 job %s now; it goes once its waiter key expires", request_id)

    async def get(self, request_id: str) -> Job | None:
        """The job; one whose record is damaged is FAILED with DAMAGED (recorded so, its place given back)."""
        import redis

        try:
            fields = await self._call(self.redis.hgetall(job_key(request_id)))
        except redis.ResponseError:  # not a hash: foreign data under our key
            fields = {b"state": b"?"}
        if not fields:
            return None
        job = _job(request_id, fields)
        if job.error == DAMAGED and fields.get(b"state", b"").decode("utf-8", "replace") not in FINISHED:
            log.error("job %s: its stored record is damaged; marked FAILED", request_id)
            try:
                await self.finish(request_id, Outcome(error=DAMAGED, status=500))
            except redis.ResponseError:
                pass  # not a hash at all: it goes with its hour
        return job

    async def result(self, request_id: str) -> bytes | None:
        return await self._call(self.redis.get(result_key(request_id)))

    async def delete(self, request_id: str) -> bool:
        state = await self._call(self.redis.hget(job_key(request_id), "state"))
        if state is None or state.decode() not in FINISHED:
            return False  # an unfinished job is left to its worker, which gives its admission back
        return bool(await self._call(self.redis.delete(job_key(request_id), result_key(request_id),
                                                       input_key(request_id), ARQ_RESULT + request_id)))

    async def expire(self) -> None:
        """Redis expires every key by itself; the admission counts are set again from the jobs that still hold a
        place (redis_admission.reconcile): a job that expired in the queue, or an API process that died between
        reserving and queueing, gives its place back here."""
        await asyncio.to_thread(self.admission.reconcile)

    async def metrics(self) -> dict:
        return await self._call(self._metrics())

    async def _metrics(self) -> dict:
        import redis

        per_state = dict.fromkeys(JOB_STATES, 0)
        async for key in self.redis.scan_iter(match=f"{PREFIX}job:*", count=500):
            try:
                state = await self.redis.hget(key, "state")
            except redis.ResponseError:  # foreign data under our prefix
                continue
            if state is not None and state.decode("utf-8", "replace") in per_state:
                per_state[state.decode()] += 1
        workers = await self._workers()
        try:
            queued = await self.redis.zcard(QUEUE)
        except redis.ResponseError:
            queued = 0
        return {"backend": "redis", "queue_depth": queued, "jobs": per_state, "workers": workers}

    async def _workers(self) -> dict[str, dict[str, float]]:
        """Each live worker's last heartbeat counts, by name (a worker whose heartbeat expired is forgotten)."""
        import redis

        workers = {}
        try:
            names = await self.redis.smembers(WORKERS_KEY)
        except redis.ResponseError:
            log_once.warning("foreign-workers", "%s holds something other than a set of worker names; /metrics "
                             "lists no workers until it is deleted", WORKERS_KEY)
            names = set()
        for name in sorted(names):
            shown = name.decode("utf-8", "replace")
            try:
                fields = await self.redis.hgetall(worker_key(shown))
                counts = {k.decode(): float(v) for k, v in fields.items()}
            except (redis.ResponseError, ValueError, UnicodeDecodeError):
                continue  # not a worker's heartbeat
            if fields:
                workers[shown] = counts
            else:
                await self.redis.srem(WORKERS_KEY, name)  # its heartbeat expired: it is gone
        return workers

    async def signing_problem(self) -> str | None:
        """Why results cannot be signed now: a live worker whose C2PA certificate has expired (workers sign)."""
        workers = await self._call(self._workers())
        expired = sorted(name for name, counts in workers.items()
                         if counts.get("c2pa_certificate_expires", float("inf")) <= self.clock())
        if not expired:
            return None
        return (f"the C2PA signing certificate of worker(s) {', '.join(expired)} has expired, so their jobs fail; "
                "restart them with a valid --c2pa-cert and --c2pa-key")

    # --- the worker's side -------------------------------------------------------------------------
    async def begin(self, request_id: str, worker: str) -> tuple[dict | None, bytes | None, bytes | None] | None:
        """Mark the job PROCESSING (one more attempt) and return (params, source, target); None when it is gone
        or already finished. params is None when damaged (not a JSON object); source/target are None when the
        inputs expired."""
        found = await self._begin(keys=[job_key(request_id), input_key(request_id), TICKETS_KEY, ADMISSION_KEY,
                                        waiter_key(request_id)], args=[worker, self.clock(), request_id])
        if not found:
            return None
        params, source, target = found
        return _params(params), source or None, target or None

    async def give_back(self, request_id: str) -> bool:
        """Give back the place a job holds, if it still holds one (a job found gone or finished)."""
        return bool(await self._give_back(keys=[TICKETS_KEY, ADMISSION_KEY], args=[request_id]))

    async def finish(self, request_id: str, outcome: Outcome) -> bool:
        """Record the job's first outcome (later ones are ignored) and give its admission back."""
        state = COMPLETED if outcome.error is None else FAILED
        return bool(await self._finish(
            keys=[job_key(request_id), result_key(request_id), input_key(request_id), ADMISSION_KEY, TICKETS_KEY,
                  waiter_key(request_id), done_key(request_id)],
            args=[state, self.clock(), outcome.error or "", outcome.inference_time if outcome.error is None else "",
                  json.dumps(outcome.warnings), outcome.status if outcome.error else 200, self.ttl_s,
                  outcome.image or b"", outcome.reason or "", outcome.c2pa or "", request_id]))

    async def heartbeat(self, worker: str, counts: dict[str, float], ttl_s: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(WORKERS_KEY, worker)
            pipe.hset(worker_key(worker), mapping={**counts, "heartbeat": self.clock()})
            pipe.expire(worker_key(worker), ttl_s)
            await pipe.execute()
