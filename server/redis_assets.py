"""Uploaded images for a cluster: the AssetStore's contract (add, get, delete, expire; a count cap; each
upload read by any number of jobs and gone at its own hour or on an explicit delete) kept in Redis, so an
upload made through one API process is read by any other."""

from __future__ import annotations

import uuid

from .admission import Busy
from .assets import ASSET_TTL_S, MAX_ASSETS

_INDEX = "fsv3:assets"  # a sorted set: name -> upload time (the server's clock), to count and expire uploads


def _key(name: str) -> str:
    return f"fsv3:asset:{name}"


class RedisAssetStore:
    """clock: the server's; an upload is readable while clock() - its upload time <= ttl_s (Redis also expires
    its key after ttl_s of its own time, so nothing outlives a stopped API process)."""

    def __init__(self, url: str, clock, ttl_s: float = ASSET_TTL_S, max_count: int = MAX_ASSETS,
                 retry_after_s: int = 60, socket_timeout_s: float = 2.0) -> None:
        import redis

        self.url, self.clock, self.ttl_s, self.max_count = url, clock, int(ttl_s), max_count
        self.retry_after_s = retry_after_s
        self.redis = redis.Redis.from_url(url, socket_timeout=socket_timeout_s,
                                          socket_connect_timeout=socket_timeout_s)

    def add(self, data: bytes, content_type: str, extension: str) -> str:
        self.expire()
        if self._guarded(self.redis.zcard, _INDEX) >= self.max_count:
            raise Busy(f"the asset storage is full ({self.max_count} images kept for "
                       f"{self.ttl_s / 60:.0f} minutes); retry later", self.retry_after_s)
        name = f"{uuid.uuid4().hex}.{extension}"
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(name), mapping={"data": data, "content_type": content_type})
            pipe.expire(_key(name), self.ttl_s)
            pipe.zadd(_INDEX, {name: self.clock()})
            self._guarded(pipe.execute)
        return name

    def get(self, name: str) -> tuple[bytes, str] | None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zscore(_INDEX, name)
            pipe.hmget(_key(name), ["data", "content_type"])
            uploaded, (data, content_type) = self._guarded(pipe.execute)
        if uploaded is None or data is None or uploaded < self.clock() - self.ttl_s:
            return None
        return data, content_type.decode()

    def delete(self, names: list[str]) -> int:
        """Remove these uploads now (DELETE /assets/{name}, or past their hour); how many there were."""
        if not names:
            return 0
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(_key(name) for name in names))
            pipe.zrem(_INDEX, *names)
            return self._guarded(pipe.execute)[1]

    def expire(self) -> int:
        """Remove the uploads past their hour; how many went."""
        names = self._guarded(self.redis.zrangebyscore, _INDEX, "-inf", f"({self.clock() - self.ttl_s}")
        return self.delete([name.decode() for name in names])

    def _guarded(self, call, *args, **kwargs):
        from .redis_store import guarded

        return guarded(self.url, call, *args, **kwargs)
