"""The cluster surviving its own faults and hostile Redis data, with a real redis-server and real `worker`
processes (stand-in engines from tools/engine_standins.py): a job past --job-timeout is stopped and the jobs
after it run; SIGTERM ends a worker within 10 s mid-job; places in the queue come back from jobs that expired
in the queue, that a worker found gone, or that an API process never queued; a pickled arq job runs nothing;
damaged or foreign data ends FAILED with the reason while the server keeps serving."""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time

import httpx
import pytest

redis = pytest.importorskip("redis")
pytest.importorskip("arq")

from cluster_processes import REDIS_SERVER, Processes, redis_server  # noqa: E402
from server_harness import b64, make_server, png_bytes, running, running_cluster  # noqa: E402
from faceswap_v3.server.admission import ServerLimits  # noqa: E402
from faceswap_v3.server.redis_admission import ADMISSION_KEY, TICKETS_KEY, RedisAdmission  # noqa: E402
from faceswap_v3.server.redis_store import DAMAGED, QUEUE, input_key, job_key  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER) and os.environ.get("CI") != "true",
                                reason="redis-server is not installed (CI installs it: .ci/run)")
FINAL = ("COMPLETED", "FAILED")
SIGTERM_WITHIN_S = 10


@pytest.fixture
def cluster():
    with redis_server() as url:
        processes = Processes()
        client = redis.Redis.from_url(url)
        try:
            yield url, processes, client
        finally:
            processes.stop()
            client.close()


def body(slow: bool, shade: int = 0) -> dict:
    """A job the timing stand-in engines run slowly (a target 128 px wide) or at once (64 px)."""
    return {"source_img": b64(png_bytes(40, 32, (90, 60, 30))),
            "target_img": b64(png_bytes(128 if slow else 64, 48, (shade, 100, 200))), "image_format": "png"}


def final(api: str, request_id: str, timeout_s: float = 90, headers: dict | None = None) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{api}/v2/requests/{request_id}/status", headers=headers, timeout=10).json()
        if answer["status"] in FINAL:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"job {request_id} did not finish")


def submit(api: str, job: dict) -> str:
    answer = httpx.post(f"{api}/v2/faceswap-v3", json=job, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["request_id"]


def admission(client) -> int:
    return int(client.hget(ADMISSION_KEY, "jobs") or 0)


def wait_until(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# --- a job past --job-timeout ------------------------------------------------------------------------------

def test_slow_jobs_past_the_timeout_are_stopped_and_the_fast_jobs_after_them_complete(cluster, swap_root):
    url, processes, client = cluster
    # each slow job would run an hour; stopped at its 1 s limit, the engine's thread is free for the next job
    processes.worker(url, "cancellable_engine", "--job-timeout", "1", "--jobs-at-once", "2",
                     env={"FACESWAP_V3_STANDIN_SLEEP_S": "3600"})
    _, api = processes.api(url, swap_root)
    slow = [submit(api, body(True, i)) for i in range(6)]
    fast = [submit(api, body(False, i)) for i in range(3)]
    slow_outcomes = [final(api, request_id) for request_id in slow]
    assert [o["status"] for o in slow_outcomes] == ["FAILED"] * 6
    assert {o["error"] for o in slow_outcomes} == {"the job ran longer than this cluster's limit of 1 s"}
    assert [final(api, request_id)["status"] for request_id in fast] == ["COMPLETED"] * 3
    assert admission(client) == 0


def test_a_job_whose_engine_ignores_the_stop_holds_its_thread_and_the_next_job_waits_for_it(cluster, swap_root):
    url, processes, client = cluster
    # the slow engine cannot be interrupted (one long model call): its job FAILS at 1 s, but its thread runs
    # 3 s; a job taken in the meantime would wait behind it and time out unrun
    processes.worker(url, "stubborn_engine", "--job-timeout", "1", env={"FACESWAP_V3_STANDIN_SLEEP_S": "3"})
    _, api = processes.api(url, swap_root)
    slow = submit(api, body(True))
    fast = [submit(api, body(False, i)) for i in range(3)]
    assert final(api, slow)["status"] == "FAILED"
    assert [final(api, request_id)["status"] for request_id in fast] == ["COMPLETED"] * 3
    started = {rid: float(client.hget(job_key(rid), "started")) for rid in [slow, *fast]}
    # the first fast job began only once the slow engine had returned (its 3 s), not at the slow job's 1 s limit
    assert min(started[rid] for rid in fast) - started[slow] >= 3.0


@pytest.mark.parametrize("engine, timeout", [("cancellable_engine", "120"), ("stubborn_engine", "1")],
                         ids=["running", "timed-out-thread-still-busy"])
def test_sigterm_mid_job_ends_the_worker_within_10_s(cluster, swap_root, engine, timeout):
    url, processes, client = cluster
    worker = processes.worker(url, engine, "--job-timeout", timeout, env={"FACESWAP_V3_STANDIN_SLEEP_S": "120"})
    _, api = processes.api(url, swap_root)
    request_id = submit(api, body(True))
    state = "FAILED" if timeout == "1" else "PROCESSING"
    wait_until(lambda: client.hget(job_key(request_id), "state") == state.encode(), f"the job never got {state}")
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=SIGTERM_WITHIN_S) is not None


# --- admission given back ----------------------------------------------------------------------------------

def test_after_queued_jobs_expire_the_admission_returns_to_zero_and_submits_are_accepted(cluster, swap_root):
    url, processes, client = cluster
    server = make_server(swap_root, redis_url=url, limits=ServerLimits(max_jobs=3), sweep_interval_s=0.2)
    with running(server) as api:  # no worker yet: an outage
        queued = [submit(api, body(False, i)) for i in range(3)]
        full = httpx.post(f"{api}/v2/faceswap-v3", json=body(False), timeout=30)
        assert full.status_code == 429 and "queue is full" in full.json()["error"]
        for rid in queued:  # the outage outlasts the jobs' hour: their keys expire in the queue
            for key in (job_key(rid), input_key(rid), f"arq:job:{rid}"):
                assert client.pexpire(key, 1)
        wait_until(lambda: not any(client.exists(job_key(rid)) for rid in queued), "the jobs never expired")
        wait_until(lambda: admission(client) == 0, "the expired jobs' places were never given back")
        assert client.hlen(TICKETS_KEY) == 0
        after = submit(api, body(False, 7))
        processes.worker(url, "instant_engine")  # arq drops the expired jobs without running them
        assert final(api, after)["status"] == "COMPLETED"
        wait_until(lambda: admission(client) == 0, "the new job's place was not given back")
        assert all(httpx.get(f"{api}/v2/requests/{rid}/status", timeout=10).status_code == 404 for rid in queued)


def test_a_worker_that_finds_a_job_gone_gives_its_place_back_at_once(cluster, swap_root):
    url, processes, client = cluster
    server = make_server(swap_root, redis_url=url, sweep_interval_s=3600)  # no sweep in this test
    with running(server) as api:
        gone = submit(api, body(False))
        client.delete(job_key(gone))  # its hash expired before a worker took it
        assert admission(client) == 1
        processes.worker(url, "instant_engine")
        wait_until(lambda: admission(client) == 0, "the gone job's place was never given back")
        kept = submit(api, body(False, 1))
        assert final(api, kept)["status"] == "COMPLETED"
        wait_until(lambda: admission(client) == 0, "the finished job's place was not given back")


def test_a_job_handed_to_a_worker_whose_engine_threads_are_shut_down_goes_back_and_runs_elsewhere(cluster, swap_root):
    """serve_worker shuts a stopping worker's engine threads while arq may still hand it a job: that job is handed
    back (CancelledError, which arq runs again) instead of failing with "cannot schedule new futures after
    shutdown", and the next worker completes it."""
    import asyncio

    from server_harness import stand_in_engine
    from faceswap_v3.server.cluster_worker import ClusterWorker
    from faceswap_v3.server.redis_store import RedisJobStore

    url, processes, client = cluster
    server = make_server(swap_root, redis_url=url, sweep_interval_s=3600)
    with running(server) as api:
        request_id = submit(api, body(False))
        store = RedisJobStore(url, RedisAdmission(url, server.limits), ttl_s=server.store.ttl_s)
        stopping = ClusterWorker(store, server.models, stand_in_engine, name="stopping", max_attempts=3)
        stopping.engine_threads.shutdown()

        async def take() -> None:
            await store.start()
            try:
                await stopping.run(request_id, 1)
            finally:
                await store.close()

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(take())
        assert stopping.jobs == 0 and client.hget(job_key(request_id), "status") != b"FAILED"
        processes.worker(url, "instant_engine")
        assert final(api, request_id)["status"] == "COMPLETED"
        wait_until(lambda: admission(client) == 0, "the job's place was not given back")


def test_a_place_reserved_by_an_api_process_that_died_before_queueing_goes_after_the_grace(cluster):
    url, _, client = cluster
    admission_control = RedisAdmission(url, ServerLimits(max_jobs=1), unstored_grace_s=1)
    try:
        admission_control.reserve(10, 10)  # ...and the process that reserved it was killed here
        assert admission_control.reconcile() == 0 and admission(client) == 1  # young: it may still be queued
        wait_until(lambda: admission_control.reconcile() == 1, "the orphaned place never went", timeout_s=10)
        assert admission(client) == 0 and client.hlen(TICKETS_KEY) == 0
        ticket = admission_control.reserve(10, 10)
        admission_control.release(ticket)
        admission_control.release(ticket)  # given back once only
        assert admission(client) == 0
    finally:
        admission_control.redis.close()


# --- hostile data in Redis ---------------------------------------------------------------------------------

class _Shell:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickled_arq_job_runs_nothing_and_the_worker_goes_on(cluster, swap_root, tmp_path):
    url, processes, client = cluster
    marker = tmp_path / "pickle-ran"
    hostile = pickle.dumps({"t": 1, "f": "faceswap_job", "a": [_Shell(str(marker))], "k": {}, "et": 1})
    client.set("arq:job:hostile", hostile)
    client.zadd(QUEUE, {"hostile": 1})  # first in the queue
    processes.worker(url, "instant_engine")
    _, api = processes.api(url, swap_root)
    after = submit(api, body(False))
    assert final(api, after)["status"] == "COMPLETED"
    wait_until(lambda: client.zscore(QUEUE, "hostile") is None, "the worker never took the pickled job")
    assert not marker.exists(), "a pickled job ran code on the worker"


def test_damaged_and_foreign_data_end_failed_with_the_reason_and_the_server_keeps_serving(cluster_redis_url,
                                                                                          swap_root):
    client = redis.Redis.from_url(cluster_redis_url)
    try:
        with running_cluster(cluster_redis_url, swap_root) as api:
            client.hset(job_key("damaged"), mapping={"state": "PROCESSING", "params": "{not json", "created": "x"})
            answer = httpx.get(f"{api}/v2/requests/damaged/status", timeout=10)
            assert answer.status_code == 422 and answer.json() == {"request_id": "damaged", "status": "FAILED",
                                                                   "error": DAMAGED}
            assert client.hget(job_key("damaged"), "state") == b"FAILED"
            client.set(job_key("not-a-hash"), b"foreign")
            assert httpx.get(f"{api}/v2/requests/not-a-hash/status", timeout=10).json()["status"] == "FAILED"

            client.delete("fsv3:workers")
            client.set("fsv3:workers", b"foreign")
            metrics = httpx.get(f"{api}/metrics", timeout=10)
            assert metrics.status_code == 200 and metrics.json()["workers"] == {}
            client.delete("fsv3:workers")
            client.sadd("fsv3:workers", "ghost")
            client.hset("fsv3:worker:ghost", mapping={"jobs": "many"})
            assert httpx.get(f"{api}/metrics", timeout=10).status_code == 200

            request_id = submit(api, body(False))  # and jobs still run
            assert final(api, request_id)["status"] == "COMPLETED"
            assert httpx.get(f"{api}/health", timeout=10).status_code == 200
    finally:
        client.close()


def test_a_queued_job_with_damaged_params_fails_with_the_reason_and_gives_its_place_back(cluster, swap_root):
    url, processes, client = cluster
    server = make_server(swap_root, redis_url=url, sweep_interval_s=3600)
    with running(server) as api:
        request_id = submit(api, body(False))
        client.hset(job_key(request_id), "params", json.dumps([1, 2]))  # a JSON list, not the job's object
        broken = submit(api, body(False, 1))
        client.hset(job_key(broken), "params", "{not json")
        processes.worker(url, "instant_engine")
        for rid in (request_id, broken):  # read in Redis: the API would find the damage itself (and say so)
            wait_until(lambda: client.hget(job_key(rid), "state") == b"FAILED", "the worker never ended the job")
            assert b"parameters are damaged" in client.hget(job_key(rid), "error")
        assert admission(client) == 0
        assert "parameters are damaged" in final(api, broken)["error"]


def test_delete_leaves_nothing_of_the_job_in_redis_arqs_records_included(cluster, swap_root):
    url, processes, client = cluster
    processes.worker(url, "instant_engine")
    _, api = processes.api(url, swap_root, "--api-key", "k")
    headers = {"x-api-key": "k"}
    answer = httpx.post(f"{api}/v2/faceswap-v3", json=body(False), headers=headers, timeout=30)
    request_id = answer.json()["request_id"]
    assert final(api, request_id, headers=headers)["status"] == "COMPLETED"
    wait_until(lambda: not client.exists(f"arq:in-progress:{request_id}"), "arq never finished the job")
    client.set(f"arq:result:{request_id}", b"{}")  # as a worker of an earlier version left it
    assert httpx.delete(f"{api}/v2/requests/{request_id}", headers=headers, timeout=10).status_code == 200
    assert client.keys(f"*{request_id}*") == []


# --- v1 requests end with their client ---------------------------------------------------------------------

def _post_v1(api: str, job: dict) -> None:
    """A v1 request whose answer may never come (its API process is killed)."""
    try:
        httpx.post(f"{api}/v1/faceswap-v3", json=job, timeout=60)
    except httpx.HTTPError:
        pass


def _keys_of(client, request_id: str) -> list[bytes]:
    return client.keys(f"*{request_id}*")


def test_a_v1_client_that_gives_up_frees_its_place_and_its_job_never_runs(cluster, swap_root):
    url, processes, client = cluster
    server = make_server(swap_root, redis_url=url, sweep_interval_s=3600)
    with running(server) as api:  # no worker: the v1 jobs wait in the queue
        for i in range(3):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{api}/v1/faceswap-v3", json=body(False, i), timeout=httpx.Timeout(30, read=1))
        wait_until(lambda: admission(client) == 0 and client.keys("fsv3:job:*") == [] and client.zcard(QUEUE) == 0
                   and client.hlen(TICKETS_KEY) == 0, "the abandoned v1 jobs kept their places or their keys")
        processes.worker(url, "instant_engine")
        later = submit(api, body(False, 9))
        assert final(api, later)["status"] == "COMPLETED"

        def jobs_run() -> list[float]:
            return [counts["jobs"] for counts in httpx.get(f"{api}/metrics", timeout=10).json()["workers"].values()]

        # the worker records a job before its next heartbeat counts it: wait for the count, then check it
        wait_until(lambda: sum(jobs_run()) >= 1, "the worker never counted the v2 job")
        assert jobs_run() == [1]  # only the v2 job ran (the v1 jobs, queued before it, would count first)


def test_a_v1_job_whose_api_process_died_mid_wait_leaves_no_result(cluster, swap_root):
    url, processes, client = cluster
    processes.worker(url, "stubborn_engine", env={"FACESWAP_V3_STANDIN_SLEEP_S": "2"})
    api_process, api = processes.api(url, swap_root)
    threading.Thread(target=_post_v1, args=(api, body(True)), daemon=True).start()
    wait_until(lambda: client.keys("fsv3:job:*"), "the v1 job was never queued")
    request_id = client.keys("fsv3:job:*")[0].decode().rsplit(":", 1)[1]
    wait_until(lambda: client.hget(job_key(request_id), "state") == b"PROCESSING", "the v1 job never ran")
    os.killpg(api_process.pid, signal.SIGKILL)  # nobody will read its answer now
    deadline = time.monotonic() + 40
    while _keys_of(client, request_id):
        assert time.monotonic() < deadline, f"the v1 job outlived its reader: {_keys_of(client, request_id)}"
        time.sleep(0.1)
    assert admission(client) == 0


def test_a_v1_job_whose_waiter_vanished_before_it_ran_is_dropped_unrun(cluster, swap_root):
    url, processes, client = cluster
    api_process, api = processes.api(url, swap_root)
    threading.Thread(target=_post_v1, args=(api, body(False)), daemon=True).start()
    wait_until(lambda: client.keys("fsv3:job:*"), "the v1 job was never queued")
    request_id = client.keys("fsv3:job:*")[0].decode().rsplit(":", 1)[1]
    os.killpg(api_process.pid, signal.SIGKILL)
    client.delete(f"fsv3:waiter:{request_id}")  # its waiter's lease ran out
    worker = processes.worker(url, "instant_engine")
    wait_until(lambda: admission(client) == 0, "the orphaned v1 job kept its place")
    assert client.keys("fsv3:job:*") == [] and not client.exists(f"fsv3:result:{request_id}")
    beat = client.hget(f"fsv3:worker:{worker.name}", "heartbeat")
    wait_until(lambda: client.hget(f"fsv3:worker:{worker.name}", "heartbeat") != beat, "no heartbeat came")
    assert float(client.hget(f"fsv3:worker:{worker.name}", "jobs")) == 0  # dropped, never run


# --- a certificate that expires while serving --------------------------------------------------------------

def test_a_signing_certificate_that_expires_while_serving_turns_health_failing_and_is_warned_of(
        swap_root, tmp_path, caplog):
    from c2pa_test_ca import write_test_signer
    from faceswap_v3.pipeline.provenance.c2pa_manifest import C2paSigner
    from faceswap_v3.server.job_execution import SIGNER_EXPIRED

    signer = C2paSigner(*write_test_signer(tmp_path, valid_s=6))  # a real certificate, expiring for real
    with caplog.at_level("WARNING", logger="faceswap_v3"), \
            running(make_server(swap_root, signer=signer, sweep_interval_s=0.2)) as api:
        health = httpx.get(f"{api}/health", timeout=10)
        assert health.status_code == 200 and "certificate_expires" in health.json()["c2pa"]
        assert any("expires on" in r.getMessage() for r in caplog.records)  # warned ahead, at start
        wait_until(lambda: httpx.get(f"{api}/health", timeout=10).status_code == 503,
                   "/health never noticed the expired certificate", timeout_s=30)
        failing = httpx.get(f"{api}/health", timeout=10).json()
        assert failing["status"] == "failing" and "expired on" in failing["error"]
        request_id = submit(api, body(False))
        assert final(api, request_id)["error"] == SIGNER_EXPIRED
        wait_until(lambda: any("expired on" in r.getMessage() for r in caplog.records), "the log never said so")


def test_a_cluster_api_reports_a_worker_whose_certificate_has_expired(cluster_redis_url, swap_root):
    """A cluster's API processes do not sign (its workers do): their /health reads the workers' heartbeats."""
    import asyncio

    import redis

    from faceswap_v3.server.redis_admission import RedisAdmission
    from faceswap_v3.server.redis_store import RedisJobStore

    async def beat(name: str, expires: float) -> None:
        store = RedisJobStore(cluster_redis_url, RedisAdmission(cluster_redis_url, ServerLimits()))
        await store.start()
        try:
            await store.heartbeat(name, {"jobs": 0, "c2pa_certificate_expires": expires}, 30)
        finally:
            await store.close()

    with running_cluster(cluster_redis_url, swap_root) as api:
        asyncio.run(beat("signs-for-a-year", time.time() + 365 * 86400))
        assert httpx.get(f"{api}/health", timeout=10).json() == {"status": "ok"}
        asyncio.run(beat("signs-no-more", time.time() - 1))
        failing = httpx.get(f"{api}/health", timeout=10)
        assert failing.status_code == 503 and failing.json()["status"] == "failing"
        assert "worker(s) signs-no-more has expired" in failing.json()["error"]
        client = redis.Redis.from_url(cluster_redis_url)
        client.delete("fsv3:worker:signs-no-more")  # its heartbeat lapses: it is gone
        client.close()
        assert httpx.get(f"{api}/health", timeout=10).status_code == 200
