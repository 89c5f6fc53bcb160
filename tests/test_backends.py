"""The job backends behind one interface: the admission rule is one rule whichever backend enforces it,
and the API server names no backend."""

from __future__ import annotations

import ast
import itertools

import pytest

from support import REPO
from faceswap_v3.server.admission import (ADMITTED, BYTES_FULL, PIXELS_FULL, QUEUE_FULL, Admission, Busy,
                                          ServerLimits, refusal)

LIMITS = ServerLimits(max_jobs=3, max_queued_pixels=1000, max_queued_bytes=500)
# held (jobs, pixels, nbytes) and a new job (pixels, nbytes) on both sides of every limit
HELD = [(jobs, pixels, nbytes) for jobs in (0, 1, 2, 3) for pixels in (0, 600, 1000) for nbytes in (0, 300, 500)]
NEW = [(0, 0), (400, 200), (401, 201), (1500, 10), (10, 900)]


def test_the_rule_refuses_each_limit_at_its_boundary():
    assert refusal(LIMITS, 3, 0, 0, 1, 1) == QUEUE_FULL  # max_jobs queued: full
    assert refusal(LIMITS, 2, 0, 0, 1, 1) == ADMITTED
    assert refusal(LIMITS, 1, 600, 0, 400, 0) == ADMITTED  # exactly at the pixel budget
    assert refusal(LIMITS, 1, 600, 0, 401, 0) == PIXELS_FULL
    assert refusal(LIMITS, 1, 0, 300, 0, 200) == ADMITTED
    assert refusal(LIMITS, 1, 0, 300, 0, 201) == BYTES_FULL
    assert refusal(LIMITS, 0, 0, 0, 5000, 5000) == ADMITTED  # a lone job larger than both budgets
    assert refusal(LIMITS, 1, 600, 300, 401, 201) == PIXELS_FULL  # pixels are checked before bytes


def test_the_local_admission_enforces_the_rule_with_its_messages():
    admission = Admission(LIMITS)
    for _ in range(3):
        admission.reserve(1, 1)
    with pytest.raises(Busy, match=r"^the queue is full \(3 jobs\); retry later$"):
        admission.reserve(1, 1)


def test_redis_enforces_the_same_rule_as_python(cluster_redis_url):
    import redis

    from faceswap_v3.server.redis_admission import ADMISSION_KEY, RedisAdmission

    client = redis.Redis.from_url(cluster_redis_url)
    admission = RedisAdmission(cluster_redis_url, LIMITS)
    try:
        for (jobs, pixels, nbytes), (new_pixels, new_bytes) in itertools.product(HELD, NEW):
            client.delete(ADMISSION_KEY)
            client.hset(ADMISSION_KEY, mapping={"jobs": jobs, "pixels": pixels, "nbytes": nbytes})
            local = Admission(LIMITS)
            local.jobs, local.pixels, local.nbytes = jobs, pixels, nbytes
            expected = refusal(LIMITS, jobs, pixels, nbytes, new_pixels, new_bytes)
            outcomes = []
            for backend in (local, admission):
                try:
                    backend.reserve(new_pixels, new_bytes)
                    outcomes.append("admitted")
                except Busy as exc:
                    outcomes.append(str(exc).replace(" across the cluster", ""))
            assert outcomes[0] == outcomes[1], (jobs, pixels, nbytes, new_pixels, new_bytes)
            assert (outcomes[0] == "admitted") == (expected == ADMITTED)
    finally:
        client.delete(ADMISSION_KEY)
        client.close()
        admission.redis.close()


def _imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.rsplit(".", 1)[-1])
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
    return names


def test_the_api_server_names_no_backend():
    backend_modules = {"local_backend", "redis_backend", "local_store", "redis_store", "redis_admission",
                       "redis_assets", "database", "job_table", "job_runner", "redis", "arq"}
    assert not _imported_modules(REPO / "server" / "app.py") & backend_modules
