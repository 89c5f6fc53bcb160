"""Uploaded images for a cluster: the AssetStore's contract (add, get, expire; a count cap; gone after
the hour) kept in Redis, so an upload made through one API process is read by any other."""

from __future__ import annotations

import uuid

from .admission import Busy
from .assets import ASSET_TTL_S, MAX_ASSETS

_INDEX = "fsv3:assets"  # a sorted set: name -> upload time, to count and expire uploads


def _key(name: str) -> str:
    return f"fsv3:asset:{name}"


class RedisAssetStore:
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
        data, content_type = self._guarded(self.redis.hmget, _key(name), ["data", "content_type"])
        return (data, content_type.decode()) if data is not None else None

    def delete(self, names: list[str]) -> int:
        """Remove these uploads now (a request that read them has ended, or its job holds its own copy)."""
        if not names:
            return 0
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(_key(name) for name in names))
            pipe.zrem(_INDEX, *names)
            return self._guarded(pipe.execute)[0]

    def expire(self) -> int:
        return self._guarded(self.redis.zremrangebyscore, _INDEX, "-inf", self.clock() - self.ttl_s)

    def _guarded(self, call, *args, **kwargs):
        from .redis_store import guarded

        return guarded(self.url, call, *args, **kwargs)
