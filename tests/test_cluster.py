"""The cluster backend with real processes: a real redis-server (no fakeredis), `serve --redis` API
processes and `worker --redis` arq workers, killed and restarted for real. Workers run a stand-in engine
(tools/engine_standins.py: a fixed sleep, as a GPU's time would be) except where the real engine's
source-embedding cache is what is tested."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

redis = pytest.importorskip("redis")
pytest.importorskip("arq")

from cluster_processes import REDIS_SERVER, Processes, free_port, popen, redis_server  # noqa: E402
from server_harness import b64, png_bytes, running  # noqa: E402
from faceswap_v3.server.app import FaceswapServer  # noqa: E402
from faceswap_v3.server.redis_store import input_key, job_key, result_key  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER) and os.environ.get("CI") != "true",
                                reason="redis-server is not installed (CI installs it: .ci/run)")
FINAL = ("COMPLETED", "FAILED")
ORDER = {"QUEUED": 0, "PROCESSING": 1, "COMPLETED": 2, "FAILED": 2}
SLEEP = {"FACESWAP_V3_STANDIN_SLEEP_S": "0.4"}


@pytest.fixture
def cluster():
    with redis_server() as url:
        processes = Processes()
        try:
            yield url, processes, redis.Redis.from_url(url)
        finally:
            processes.stop()


def body(i: int, **changes) -> dict:
    return {"source_img": b64(png_bytes(40, 32, (90, 60, 30))), "target_img": b64(png_bytes(64, 48, (i * 8, 100, 200))),
            "image_format": "png", **changes}


def wait_final(api: str, request_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{api}/v2/requests/{request_id}/status", timeout=10)
        if answer.json()["status"] in FINAL:
            return answer.json()
        time.sleep(0.05)
    raise AssertionError(f"job {request_id} did not finish")


def single_process_results(count: int) -> list[bytes]:
    """What the one-process server answers for the same inputs (the local backend, same engine)."""
    from engine_standins import instant_engine

    with running(FaceswapServer(engine=instant_engine)) as base:
        return [httpx.post(f"{base}/v1/faceswap-v3", json=body(i), timeout=30).content for i in range(count)]


def test_thirty_jobs_on_two_apis_and_three_workers_survive_a_worker_killed_mid_job(cluster, swap_root):
    url, processes, client = cluster
    workers = [processes.worker(url, "sleep_engine", "--job-timeout", "3", env=SLEEP) for _ in range(3)]
    apis = [processes.api(url, swap_root)[1] for _ in range(2)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: httpx.post(f"{apis[i % 2]}/v2/faceswap-v3", json=body(i), timeout=30),
                                range(30)))
    assert [a.status_code for a in answers] == [200] * 30
    ids = [a.json()["request_id"] for a in answers]
    assert len(set(ids)) == 30

    victim, killed_job = workers[0], None
    deadline = time.monotonic() + 20
    while killed_job is None and time.monotonic() < deadline:
        for request_id in ids:
            fields = client.hmget(job_key(request_id), "state", "worker")
            if fields == [b"PROCESSING", victim.name.encode()]:
                os.killpg(victim.pid, signal.SIGKILL)
                killed_job = request_id
                break
    assert killed_job is not None, "the first worker never took a job"

    outcomes = [wait_final(apis[i % 2], request_id) for i, request_id in enumerate(ids)]
    assert [o["status"] for o in outcomes] == ["COMPLETED"] * 30
    expected = single_process_results(30)
    for i, request_id in enumerate(ids):
        output = httpx.get(f"{apis[(i + 1) % 2]}/v2/requests/{request_id}", timeout=10).json()["output"]
        assert httpx.get(output, timeout=10).content == expected[i], f"job {i} differs from the one-process result"
    attempts = {request_id: int(client.hget(job_key(request_id), "attempts")) for request_id in ids}
    assert attempts.pop(killed_job) == 2
    assert set(attempts.values()) == {1}
    assert client.hget(job_key(killed_job), "worker").decode() != victim.name
    counts = httpx.get(f"{apis[0]}/metrics", timeout=10).json()
    assert counts["jobs"] == {"QUEUED": 0, "PROCESSING": 0, "COMPLETED": 30, "FAILED": 0}
    assert counts["queue_depth"] == 0 and int(client.hget("fsv3:admission", "jobs")) == 0
    ran_by = Counter(client.hget(job_key(request_id), "worker").decode() for request_id in ids)
    survivors = [w.name for w in workers[1:]]
    assert [counts["workers"][name]["jobs"] for name in survivors] == [ran_by[name] for name in survivors]


def test_a_worker_sent_sigterm_mid_job_exits_and_hands_the_job_to_another(cluster, swap_root):
    url, processes, client = cluster
    slow = {"FACESWAP_V3_STANDIN_SLEEP_S": "1.0"}
    first = processes.worker(url, "sleep_engine", "--job-timeout", "3", env=slow)
    _, api = processes.api(url, swap_root)
    ids = [httpx.post(f"{api}/v2/faceswap-v3", json=body(i), timeout=30).json()["request_id"] for i in range(4)]
    deadline, stopped_job = time.monotonic() + 20, None
    while stopped_job is None and time.monotonic() < deadline:
        for request_id in ids:
            if client.hmget(job_key(request_id), "state", "worker") == [b"PROCESSING", first.name.encode()]:
                os.killpg(first.pid, signal.SIGTERM)
                stopped_job = request_id
                break
    assert stopped_job is not None, "the worker never took a job"
    assert first.wait(timeout=10) is not None          # it stops, rather than go on taking jobs

    processes.worker(url, "sleep_engine", "--job-timeout", "3", env=slow)
    assert [wait_final(api, request_id)["status"] for request_id in ids] == ["COMPLETED"] * 4
    assert int(client.hget(job_key(stopped_job), "attempts")) == 2


def test_polling_through_the_other_api_while_one_is_killed_and_restarted_never_goes_back(cluster, swap_root):
    url, processes, _ = cluster
    processes.worker(url, "sleep_engine", env={"FACESWAP_V3_STANDIN_SLEEP_S": "0.3"})
    first, first_url = processes.api(url, swap_root)
    _, second_url = processes.api(url, swap_root)
    ids = [httpx.post(f"{first_url}/v2/faceswap-v3", json=body(i), timeout=30).json()["request_id"] for i in range(6)]
    seen = {request_id: [] for request_id in ids}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for request_id in ids:
                answer = httpx.get(f"{second_url}/v2/requests/{request_id}/status", timeout=10)
                seen[request_id].append(answer.status_code if answer.status_code != 200 else answer.json()["status"])

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    _, restarted = processes.api(url, swap_root)
    finals = [wait_final(restarted, request_id) for request_id in ids]
    stop.set()
    poller.join()
    assert [f["status"] for f in finals] == ["COMPLETED"] * 6
    for request_id, states in seen.items():
        assert all(s in ORDER for s in states), f"{request_id} answered {set(states) - set(ORDER)}"
        assert [ORDER[s] for s in states] == sorted(ORDER[s] for s in states), f"{request_id} went back: {states}"


def test_bad_input_fails_once_is_kept_an_hour_then_404_and_another_clusters_id_is_404(cluster, swap_root):
    url, processes, client = cluster
    processes.worker(url, "instant_engine")
    _, api = processes.api(url, swap_root)
    other_cluster = url.rsplit("/", 1)[0] + "/1"
    _, other_api = processes.api(other_cluster, swap_root)
    broken = png_bytes(64, 48)
    broken = broken[:60] + bytes(len(broken) - 60)  # the header is a PNG's, the pixels are not
    bad = httpx.post(f"{api}/v2/faceswap-v3", json={**body(0), "target_img": b64(broken)}, timeout=30).json()
    good = httpx.post(f"{api}/v2/faceswap-v3", json=body(1), timeout=30).json()

    assert wait_final(api, bad["request_id"])["status"] == "FAILED"
    failed = httpx.get(f"{api}/v2/requests/{bad['request_id']}", timeout=10)
    assert failed.status_code == 422 and "target_img" in failed.json()["error"]
    assert int(client.hget(job_key(bad["request_id"]), "attempts")) == 1
    time.sleep(0.5)  # a retry, were there one, would have started by now
    assert int(client.hget(job_key(bad["request_id"]), "attempts")) == 1

    assert wait_final(api, good["request_id"])["status"] == "COMPLETED"
    for key in (job_key(good["request_id"]), result_key(good["request_id"]), job_key(bad["request_id"])):
        assert 3500 <= client.ttl(key) <= 3600, key
    assert not client.exists(input_key(good["request_id"]))  # inputs go when the job ends
    assert httpx.get(f"{other_api}/v2/requests/{good['request_id']}/status", timeout=10).status_code == 404

    for key in (job_key(good["request_id"]), result_key(good["request_id"])):
        client.pexpire(key, 1)  # Redis's own expiry, an hour early
    time.sleep(0.05)
    assert httpx.get(f"{api}/v2/requests/{good['request_id']}/status", timeout=10).status_code == 404
    assert httpx.get(f"{api}/v2/requests/{good['request_id']}", timeout=10).status_code == 404


def test_one_source_with_ten_targets_is_embedded_once_per_worker_with_results_like_one_process(cluster, swap_root):
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.swap_models import SwapModels
    from support import FACES

    url, processes, _ = cluster
    workers = [processes.worker(url, None, "--models-dir", str(swap_root)) for _ in range(2)]
    _, api = processes.api(url, swap_root)
    source = b64((FACES / "portrait_female_small_560x415.jpg").read_bytes())
    targets = [b64((FACES / name).read_bytes())
               for name in ("lowres_male_obama_240p.jpg", "portrait_female_small_560x415.jpg")]
    request = {"source_img": source, "facedetection": "scrfd_2.5g_bnkps.onnx", "face_restore_weight": 0,
               "image_format": "png"}
    ids = [httpx.post(f"{api}/v2/faceswap-v3", json={**request, "target_img": targets[i % 2]}, timeout=30)
           .json()["request_id"] for i in range(10)]
    assert [wait_final(api, request_id, 120)["status"] for request_id in ids] == ["COMPLETED"] * 10
    counts = httpx.get(f"{api}/metrics", timeout=10).json()["workers"]
    ran = {w.name: counts[w.name] for w in workers if counts[w.name]["jobs"]}
    assert sum(c["jobs"] for c in ran.values()) == 10
    assert [c["source_embeddings"] for c in ran.values()] == [1] * len(ran)

    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))
    with running(FaceswapServer(models=models)) as base:
        for i in (0, 1):
            alone = httpx.post(f"{base}/v1/faceswap-v3", json={**request, "target_img": targets[i]}, timeout=60)
            output = httpx.get(f"{api}/v2/requests/{ids[i]}", timeout=10).json()["output"]
            assert httpx.get(output, timeout=10).content == alone.content


def test_a_lost_redis_answers_503_with_retry_after_and_acknowledged_jobs_finish_when_it_returns(cluster, swap_root):
    url, processes, _ = cluster
    processes.worker(url, "sleep_engine", "--job-timeout", "3", env=SLEEP)
    _, api = processes.api(url, swap_root)
    acknowledged = [httpx.post(f"{api}/v2/faceswap-v3", json=body(i), timeout=30).json()["request_id"]
                    for i in range(3)]
    redis_pid = int(redis.Redis.from_url(url).info("server")["process_id"])
    os.kill(redis_pid, signal.SIGSTOP)
    try:
        refused = httpx.post(f"{api}/v2/faceswap-v3", json=body(9), timeout=30)
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
        assert refused.json()["error"] == "the job store is unavailable; retry later"  # no address to clients
        assert httpx.get(f"{api}/health", timeout=30).status_code == 503
    finally:
        os.kill(redis_pid, signal.SIGCONT)
    assert [wait_final(api, request_id)["status"] for request_id in acknowledged] == ["COMPLETED"] * 3


def test_the_queue_budget_holds_for_the_whole_cluster_across_api_processes(cluster, swap_root):
    url, processes, _ = cluster
    processes.worker(url, "sleep_engine", env={"FACESWAP_V3_STANDIN_SLEEP_S": "1.0"})
    first, second = (processes.api(url, swap_root, "--max-jobs", "2")[1] for _ in range(2))
    held = [httpx.post(f"{first}/v2/faceswap-v3", json=body(i), timeout=30) for i in range(2)]
    assert [a.status_code for a in held] == [200, 200]
    refused = httpx.post(f"{second}/v2/faceswap-v3", json=body(2), timeout=30)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "across the cluster" in refused.json()["error"]
    for answer in held:
        wait_final(second, answer.json()["request_id"])
    assert httpx.post(f"{second}/v2/faceswap-v3", json=body(3), timeout=30).status_code == 200


def test_the_pixel_budget_holds_for_the_whole_cluster_across_api_processes(cluster, swap_root):
    url, processes, _ = cluster
    processes.worker(url, "sleep_engine", env={"FACESWAP_V3_STANDIN_SLEEP_S": "1.0"})
    first, second = (processes.api(url, swap_root, "--max-queued-megapixels", "1")[1] for _ in range(2))
    big = body(0, target_img=b64(png_bytes(1000, 700, (10, 100, 200))))  # 0.7 MP held while it is queued or runs
    held = httpx.post(f"{first}/v2/faceswap-v3", json=big, timeout=30)
    assert held.status_code == 200
    refused = httpx.post(f"{second}/v2/faceswap-v3", json=big, timeout=30)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "(limit 1 MP)" in refused.json()["error"]
    wait_final(second, held.json()["request_id"])
    assert httpx.post(f"{second}/v2/faceswap-v3", json=big, timeout=30).status_code == 200  # given back


def test_a_job_whose_workers_keep_dying_fails_after_max_attempts_with_the_reason(cluster, swap_root):
    url, processes, client = cluster
    slow = {"FACESWAP_V3_STANDIN_SLEEP_S": "30"}
    victim = processes.worker(url, "sleep_engine", "--max-attempts", "1", "--job-timeout", "2", env=slow)
    _, api = processes.api(url, swap_root)
    request_id = httpx.post(f"{api}/v2/faceswap-v3", json=body(1), timeout=30).json()["request_id"]
    deadline = time.monotonic() + 20
    while client.hget(job_key(request_id), "state") != b"PROCESSING" and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    processes.worker(url, "sleep_engine", "--max-attempts", "1", "--job-timeout", "2", env=slow)
    outcome = wait_final(api, request_id, timeout_s=60)
    assert outcome["status"] == "FAILED" and "a worker stopped 1 time while running this job" in outcome["error"]
    assert int(client.hget(job_key(request_id), "attempts")) == 1  # taken once, never run a second time
    assert int(client.hget("fsv3:admission", "jobs")) == 0


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    from cluster_processes import _env

    return subprocess.run([sys.executable, "-m", "faceswap_v3", *args], capture_output=True, text=True, timeout=60,
                          env=_env(None, env))


def test_an_unreachable_redis_is_one_line_naming_it_and_exit_2_for_api_and_worker(swap_root):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    for command in (("serve", "--port", "0", "--redis", nowhere), ("worker", "--redis", nowhere)):
        done = _cli(*command)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and nowhere in lines[0] and "start redis-server" in lines[0]


def test_worker_options_given_to_an_api_process_are_refused_not_ignored(cluster, tmp_path):
    url, _, _ = cluster
    key = tmp_path / "key.pem"
    for options, named in ((["--no-content-check"], "--no-content-check"),
                           (["--content-check", "nudenet"], "--content-check"),
                           (["--c2pa-cert", str(key), "--c2pa-key", str(key)], "--c2pa-cert, --c2pa-key")):
        done = _cli("serve", "--port", "0", "--redis", url, *options)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert named in lines[0] and "worker --redis URL" in lines[0]


def test_a_worker_without_its_models_says_which_and_exits(cluster, tmp_path):
    url, _, _ = cluster
    done = _cli("worker", "--redis", url, "--models-dir", str(tmp_path))
    assert done.returncode == 2
    assert "inswapper_128.onnx" in done.stderr and "--models-dir" in done.stderr


BLOCK_REDIS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('redis', 'arq'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import runpy
sys.argv = ['faceswap_v3'] + sys.argv[1:]
runpy.run_module('faceswap_v3', run_name='__main__')
"""


def test_the_default_backend_serves_without_redis_or_arq_importable(swap_root, tmp_path):
    from cluster_processes import _env

    process = popen([sys.executable, "-c", BLOCK_REDIS, "serve", "--port", "0", "--models-dir",
                     str(swap_root), "--data-dir", str(tmp_path)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(None))
    try:
        line = process.stdout.readline()
        assert "serving the Faceswap V3 API on " in line, process.stderr.read() if process.poll() is not None else line
        base = line.strip().rsplit(" ", 1)[1]
        assert httpx.get(f"{base}/health", timeout=10).json() == {"status": "ok"}
        metrics = httpx.get(f"{base}/metrics", timeout=10).json()
        assert metrics["backend"] == "local" and metrics["queue_depth"] == 0
    finally:
        process.terminate()
        process.wait(10)


def test_the_redis_store_records_a_jobs_first_outcome_once_and_deletes_only_finished_jobs():
    import asyncio

    from faceswap_v3.pipeline.params import FaceswapParams
    from faceswap_v3.server.admission import ServerLimits
    from faceswap_v3.server.job_execution import Outcome
    from faceswap_v3.server.redis_admission import RedisAdmission
    from faceswap_v3.server.redis_store import RedisJobStore

    with redis_server() as url:
        admission = RedisAdmission(url, ServerLimits(max_jobs=2))
        store = RedisJobStore(url, admission)

        async def scenario():
            await store.start()
            params = FaceswapParams.from_mapping({"image_format": "png"})
            job = await store.submit(params, b"source", b"target", admission.reserve(12, 12))
            assert admission.jobs == 1 and not await store.delete(job.request_id)  # unfinished: kept
            assert await store.begin(job.request_id, "w1") == (params.to_mapping(), b"source", b"target")
            assert await store.finish(job.request_id, Outcome(b"image", ["a warning"], 0.25))
            assert not await store.finish(job.request_id, Outcome(error="late", status=500))  # ignored
            assert await store.begin(job.request_id, "w2") is None  # finished: nothing left to run
            done = await store.get(job.request_id)
            assert (done.state, done.warnings, done.inference_time) == ("COMPLETED", ["a warning"], 0.25)
            assert await store.result(job.request_id) == b"image" and admission.jobs == 0
            assert await store.delete(job.request_id) and await store.get(job.request_id) is None
            assert await store.result(job.request_id) is None and not await store.delete(job.request_id)
            await store.close()

        asyncio.run(scenario())
