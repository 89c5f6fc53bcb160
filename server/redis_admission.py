"""Admission for a cluster: the queue-depth, pixel and byte budgets of admission.py counted in Redis, so
they hold for every API process together. A job's ticket is given back by the worker that finishes it
(redis_store.py's finish script). Synchronous like Admission: each call is one short Lua script."""

from __future__ import annotations

from .admission import Busy, ServerLimits, Ticket

ADMISSION_KEY = "fsv3:admission"
# ARGV: pixels, nbytes, max_jobs, max_pixels, max_bytes, force. Returns {refused (0 ok, 1 jobs, 2 pixels,
# 3 bytes), jobs, pixels, nbytes} as counted before this request.
_RESERVE = """
local held = redis.call('HMGET', KEYS[1], 'jobs', 'pixels', 'nbytes')
local jobs, pixels, nbytes = tonumber(held[1] or '0'), tonumber(held[2] or '0'), tonumber(held[3] or '0')
if ARGV[6] == '0' then
  if jobs >= tonumber(ARGV[3]) then return {1, jobs, pixels, nbytes} end
  if jobs > 0 and pixels + tonumber(ARGV[1]) > tonumber(ARGV[4]) then return {2, jobs, pixels, nbytes} end
  if jobs > 0 and nbytes + tonumber(ARGV[2]) > tonumber(ARGV[5]) then return {3, jobs, pixels, nbytes} end
end
redis.call('HINCRBY', KEYS[1], 'jobs', 1)
redis.call('HINCRBY', KEYS[1], 'pixels', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'nbytes', ARGV[2])
return {0, jobs, pixels, nbytes}
"""


class RedisAdmission:
    def __init__(self, url: str, limits: ServerLimits, socket_timeout_s: float = 2.0) -> None:
        import redis

        self.url, self.limits = url, limits
        self.redis = redis.Redis.from_url(url, socket_timeout=socket_timeout_s,
                                          socket_connect_timeout=socket_timeout_s)
        self._reserve = self.redis.register_script(_RESERVE)

    @property
    def jobs(self) -> int:
        return int(self._guarded(self.redis.hget, ADMISSION_KEY, "jobs") or 0)

    def check_room(self) -> None:
        if self.jobs >= self.limits.max_jobs:
            raise Busy(f"the queue is full ({self.limits.max_jobs} jobs across the cluster); retry later",
                       self.limits.retry_after_s)

    def reserve(self, pixels: int, nbytes: int, force: bool = False) -> Ticket:
        limits = self.limits
        refused, jobs, held_pixels, held_bytes = self._guarded(
            self._reserve, keys=[ADMISSION_KEY],
            args=[pixels, nbytes, limits.max_jobs, limits.max_queued_pixels, limits.max_queued_bytes, int(force)])
        if refused == 1:
            raise Busy(f"the queue is full ({limits.max_jobs} jobs across the cluster); retry later",
                       limits.retry_after_s)
        if refused == 2:
            raise Busy(f"the queued jobs already hold {held_pixels / 1e6:.0f} MP of images (limit "
                       f"{limits.max_queued_pixels / 1e6:.0f} MP); retry later", limits.retry_after_s)
        if refused == 3:
            raise Busy(f"the queued jobs already hold {held_bytes // 2**20} MiB of images (limit "
                       f"{limits.max_queued_bytes // 2**20} MiB); retry later", limits.retry_after_s)
        return Ticket(pixels, nbytes)

    def release(self, ticket: Ticket) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(ADMISSION_KEY, "jobs", -1)
            pipe.hincrby(ADMISSION_KEY, "pixels", -ticket.pixels)
            pipe.hincrby(ADMISSION_KEY, "nbytes", -ticket.nbytes)
            self._guarded(pipe.execute)

    def _guarded(self, call, *args, **kwargs):
        from .redis_store import guarded

        return guarded(self.url, call, *args, **kwargs)
