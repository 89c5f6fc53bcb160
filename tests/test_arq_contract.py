"""What the cluster worker relies on inside arq (pinned to <0.29 in pyproject.toml): the in-progress key that
tells other workers a job is taken lives for our job timeout plus 2 s, not arq's own function timeout."""

from __future__ import annotations

import threading
import time

import httpx
import redis

from server_harness import payload, running_cluster, stand_in_engine


def test_a_running_jobs_in_progress_key_lives_for_our_job_timeout(cluster_redis_url, swap_root):
    release, started = threading.Event(), threading.Event()

    def held_engine(job):
        started.set()
        assert release.wait(60)
        return stand_in_engine(job)

    client = redis.Redis.from_url(cluster_redis_url)
    try:
        with running_cluster(cluster_redis_url, swap_root, engine=held_engine) as base:
            request_id = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30).json()["request_id"]
            assert started.wait(60)
            ttl_ms = client.pttl(f"arq:in-progress:{request_id}")
            release.set()
            deadline = time.monotonic() + 60
            while httpx.get(f"{base}/v2/requests/{request_id}/status").json()["status"] != "COMPLETED":
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        release.set()
        client.close()
    # the harness's worker has job_timeout_s=60: 62 s, where arq's own default would be its function's timeout
    assert 50_000 < ttl_ms <= 62_000
