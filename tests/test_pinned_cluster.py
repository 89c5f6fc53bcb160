"""Pinned behaviours of the cluster backend and of batching (issue 28), on a real redis-server: the batch-axis
rule, first-outcome-only finishing, DELETE of failed jobs, a failed submit's place given back, the Redis
password kept out of every message, the cluster's job, pixel and byte budgets at their boundaries, and the
source-embedding cache's eviction order. Each test fails when its rule changes (the mutations are listed in
the report of issue 28)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

redis = pytest.importorskip("redis")
pytest.importorskip("arq")

from cluster_processes import REDIS_SERVER, Processes, _env, free_port, redis_server  # noqa: E402
from server_harness import Gate, b64, make_server, payload, png_bytes, running, running_cluster  # noqa: E402
from support import FACES  # noqa: E402
from faceswap_v3.pipeline.errors import BadInput  # noqa: E402
from faceswap_v3.pipeline.params import FaceswapParams  # noqa: E402
from faceswap_v3.server.admission import ServerLimits  # noqa: E402
from faceswap_v3.server.redis_admission import ADMISSION_KEY, RedisAdmission  # noqa: E402
from faceswap_v3.server.redis_store import RedisJobStore  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER) and os.environ.get("CI") != "true",
                                reason="redis-server is not installed (CI installs it: .ci/run)")
KEY = "pinned-cluster-key-7d1"
FINAL = ("COMPLETED", "FAILED")


@pytest.fixture
def redis_url(cluster_redis_url):
    """The session's redis-server, emptied."""
    client = redis.Redis.from_url(cluster_redis_url)
    client.flushall()
    client.close()
    return cluster_redis_url


def admission_counts(url: str) -> dict[str, int]:
    client = redis.Redis.from_url(url)
    try:
        held = client.hgetall(ADMISSION_KEY)
    finally:
        client.close()
    return {name: int(held.get(name.encode(), 0)) for name in ("jobs", "pixels", "nbytes")}


def wait_final(base: str, request_id: str, headers=None, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/v2/requests/{request_id}/status", headers=headers, timeout=10)
        if answer.json()["status"] in FINAL:
            return answer.json()
        time.sleep(0.02)
    raise AssertionError(f"job {request_id} did not finish")


# --- batching: only a model whose every input and output takes a batch of any size is merged ---------------
def _arcface(path: Path, input_batch, output_batch) -> Path:
    """ArcFace's interface ([b,3,112,112] -> [b,512]) with the batch axis of the input and of the output
    declared separately (an int: fixed; a name: any size)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    data = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [input_batch, 3, 112, 112])
    out = helper.make_tensor_value_info("683", TensorProto.FLOAT, [output_batch, 512])
    weights = numpy_helper.from_array(rng.standard_normal((588, 512)).astype(np.float32), "w")
    nodes = [helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Flatten", ["pooled"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["683"])]
    model = helper.make_model(helper.make_graph(nodes, "arcface_axes", [data], [out], initializer=[weights]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("input_batch, output_batch, merged", [("N", "N", True), ("N", 1, False), (1, "N", False)])
def test_a_model_is_merged_only_when_every_input_and_output_batch_axis_is_free(tmp_path, input_batch, output_batch,
                                                                               merged):
    import onnxruntime as ort

    from faceswap_v3.pipeline.analysis.recognition import Recognizer
    from faceswap_v3.server.batching_model_cache import BatchingModelCache, MergedSession, batch_axis_is_free

    path = _arcface(tmp_path / f"{input_batch}-{output_batch}" / "w600k_r50.onnx", input_batch, output_batch)
    assert batch_axis_is_free(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])) is merged
    recognizer = BatchingModelCache(max_items=8).get("recognizer", path, None, lambda: Recognizer(path))
    assert isinstance(recognizer.model.session, MergedSession) is merged


# --- a late outcome never overwrites a FAILED job nor gives its admission back twice ---------------------------
def test_a_late_outcome_leaves_a_failed_job_failed_and_its_admission_given_back_once(redis_url):
    from faceswap_v3.server.redis_store import Outcome

    admission = RedisAdmission(redis_url, ServerLimits(max_jobs=4))
    store = RedisJobStore(redis_url, admission)
    params = FaceswapParams.from_mapping({"image_format": "png"})

    async def scenario():
        await store.start()
        try:
            other = await store.submit(params, b"s1", b"t1", admission.reserve(5, 4))  # still held throughout
            job = await store.submit(params, b"s2", b"t2", admission.reserve(11, 4))
            assert await store.begin(job.request_id, "first") is not None
            assert await store.finish(job.request_id, Outcome(error="the target has no face", status=422))
            after_failure = admission_counts(redis_url)
            late = [await store.finish(job.request_id, Outcome(b"late image", [], 0.5)),
                    await store.finish(job.request_id, Outcome(error="late failure", status=500)),
                    await store.give_back(job.request_id)]  # what a second run of a finished job does
            return other, await store.get(job.request_id), await store.result(job.request_id), after_failure, late
        finally:
            await store.close()

    other, failed, result, after_failure, late = asyncio.run(scenario())
    assert late == [False, False, False]
    assert (failed.state, failed.error) == ("FAILED", "the target has no face") and result is None
    assert after_failure == {"jobs": 1, "pixels": 5, "nbytes": len(b"s1t1")}
    assert admission_counts(redis_url) == after_failure  # the late outcomes gave nothing back a second time


# --- DELETE of a FAILED job answers 200, on both backends -----------------------------------------------------
def _refusing_engine(job):
    raise BadInput("the target image has no face to swap")


def test_a_failed_job_is_deleted_with_200_and_is_gone_afterwards(serve, swap_root):
    key = {"x-api-key": KEY}
    with serve(swap_root, engine=_refusing_engine, api_key=KEY) as base:
        request_id = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers=key).json()["request_id"]
        assert wait_final(base, request_id, key)["status"] == "FAILED"
        deleted = httpx.delete(f"{base}/v2/requests/{request_id}", headers=key)
        after = httpx.get(f"{base}/v2/requests/{request_id}/status", headers=key)
    assert deleted.status_code == 200 and deleted.json() == {"request_id": request_id, "status": "DELETED"}
    assert after.status_code == 404


# --- a submit that fails after its place was reserved gives the place back --------------------------------------
def _noise_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (height, width, 3), np.uint8)).save(out, format="PNG")
    return out.getvalue()


def test_a_submit_that_fails_in_redis_after_reserving_gives_its_place_back(redis_url, swap_root):
    """Redis refuses to store the job (its bulk-length limit is below the image's size), after admission
    reserved the place: the place, pixels and bytes come back, and the one place is free for the next job."""
    big = _noise_png(900, 700)
    assert len(big) > 1 << 20
    client = redis.Redis.from_url(redis_url)
    server = make_server(swap_root, redis_url=redis_url, max_jobs=1)
    try:
        with running(server) as base:
            client.config_set("proto-max-bulk-len", 1 << 20)
            try:
                failed = httpx.post(f"{base}/v2/faceswap-v3", json=payload(target_img=b64(big)), timeout=30)
            finally:
                client.config_set("proto-max-bulk-len", 512 << 20)
            held_after_failure = admission_counts(redis_url)
            next_job = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
    finally:
        client.close()
    assert failed.status_code >= 500
    assert held_after_failure == {"jobs": 0, "pixels": 0, "nbytes": 0}
    assert next_job.status_code == 200, next_job.text


# --- the Redis password appears in no error, log line or answer -------------------------------------------------
PASSWORD = "pw-Zq81-never-shown"


@pytest.fixture
def redis_with_password():
    """A redis-server on a free loopback port that asks for PASSWORD; yields (url with it, its pid)."""
    with redis_server(password=PASSWORD) as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        client.close()
        try:
            yield url, pid
        finally:
            os.kill(pid, signal.SIGCONT)  # a test may have paused it; redis_server then stops it


def test_an_unreachable_or_refusing_redis_is_named_without_its_password(redis_with_password):
    url, _ = redis_with_password
    nowhere = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    wrong = url.replace(PASSWORD, "not-" + PASSWORD[::-1])
    for target in (nowhere, wrong):
        for command in (("serve", "--port", "0", "--redis", target), ("worker", "--redis", target)):
            done = subprocess.run([sys.executable, "-m", "faceswap_v3", *command], capture_output=True, text=True,
                                  timeout=60, env=_env(None))
            assert done.returncode == 2, done.stderr
            shown = target.replace(target.split("@")[0].split(":")[-1], "***")
            assert shown in done.stderr, done.stderr
            assert PASSWORD not in done.stderr + done.stdout and PASSWORD[::-1] not in done.stderr + done.stdout


def test_a_lost_redis_with_a_password_is_a_503_whose_answer_and_logs_never_show_it(redis_with_password, swap_root):
    url, pid = redis_with_password
    processes = Processes()
    try:
        processes.worker(url, "instant_engine")
        _, api = processes.api(url, swap_root)
        assert httpx.post(f"{api}/v2/faceswap-v3", json=payload(), timeout=30).status_code == 200
        os.kill(pid, signal.SIGSTOP)
        try:
            answers = [httpx.post(f"{api}/v2/faceswap-v3", json=payload(), timeout=30),
                       httpx.get(f"{api}/health", timeout=30), httpx.get(f"{api}/metrics", timeout=30),
                       httpx.get(f"{api}/v2/requests/{'0' * 8}-0000-0000-0000-{'0' * 12}/status", timeout=30)]
            time.sleep(3)  # the worker's own calls time out (2 s) and are logged meanwhile
        finally:
            os.kill(pid, signal.SIGCONT)
        logs = "".join(path.read_text() for path in processes.logs.glob("*.log"))
    finally:
        processes.stop()
    assert [a.status_code for a in answers] == [503] * 4
    assert all("retry later" in a.json()["error"] for a in answers), answers[0].text
    assert all(PASSWORD not in a.text and PASSWORD not in str(a.headers) for a in answers)
    # the operator's log names the store it lost, with the password masked
    assert "Redis at redis://:***@127.0.0.1:" in logs and PASSWORD not in logs


# --- the cluster's budgets at their boundaries -------------------------------------------------------------------
def test_exactly_max_jobs_are_admitted_when_two_api_processes_race(redis_url, swap_root):
    """No worker runs, so every admitted job stays queued: 24 requests at once through two API servers on one
    Redis, 5 places, and exactly 5 admitted."""
    max_jobs, requests = 5, 24
    first = make_server(swap_root, redis_url=redis_url, max_jobs=max_jobs)
    second = make_server(swap_root, redis_url=redis_url, max_jobs=max_jobs)
    with running(first) as one, running(second) as two:
        start = threading.Barrier(requests)

        def submit(i: int) -> int:
            start.wait(30)
            return httpx.post(f"{(one, two)[i % 2]}/v2/faceswap-v3", json=payload(), timeout=60).status_code

        with ThreadPoolExecutor(requests) as pool:
            statuses = list(pool.map(submit, range(requests)))
    assert sorted(statuses) == [200] * max_jobs + [429] * (requests - max_jobs)
    assert admission_counts(redis_url)["jobs"] == max_jobs


def test_a_lone_job_larger_than_the_pixel_budget_is_admitted_when_nothing_is_queued(redis_url, swap_root):
    limits = ServerLimits(max_queued_pixels=1000)  # one job's two 64x48 images hold 6144 px
    with running(make_server(swap_root, redis_url=redis_url, limits=limits)) as base:  # no worker: it stays queued
        lone = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
        second = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
    assert lone.status_code == 200, lone.text
    assert second.status_code == 429 and "(limit 0 MP)" in second.json()["error"]


def test_a_finished_jobs_bytes_and_pixels_are_given_back_to_the_cluster(redis_url, swap_root):
    """Three jobs' bytes pass the byte budget, two fit. After a job ends, two more fit again; were its bytes
    kept, the third would be refused."""
    one_job = len(png_bytes()) * 2
    limits = ServerLimits(max_queued_bytes=one_job * 5 // 2)
    gate = Gate()
    gate.open.set()
    with running_cluster(redis_url, swap_root, engine=gate, limits=limits) as base:
        done = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30).json()["request_id"]
        assert wait_final(base, done)["status"] == "COMPLETED"
        deadline = time.monotonic() + 10
        while admission_counts(redis_url)["jobs"] and time.monotonic() < deadline:
            time.sleep(0.02)
        after_one = admission_counts(redis_url)
        gate.open.clear()
        gate.entered.clear()
        held = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
        assert gate.entered.wait(10)
        queued = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
        refused = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
        gate.open.set()
        for answer in (held, queued):
            assert wait_final(base, answer.json()["request_id"])["status"] == "COMPLETED"
    assert after_one == {"jobs": 0, "pixels": 0, "nbytes": 0}
    assert held.status_code == 200 and queued.status_code == 200, queued.text
    assert refused.status_code == 429 and "MiB of images" in refused.json()["error"]


# --- the source-embedding cache evicts the least recently used source ---------------------------------------------
def test_the_source_cache_evicts_the_least_recently_used_source_and_keeps_a_recently_used_one(swap_root):
    from faceswap_v3.pipeline.runtime.images import read_image_file
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.swap_models import SwapModels
    from faceswap_v3.server.embedding_cache import SourceEmbeddingCache

    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))
    params = FaceswapParams(facedetection="scrfd_2.5g_bnkps.onnx", face_restore_weight=0.0)
    first, second, third = (read_image_file(FACES / name) for name in
                            ("portrait_female_01.jpg", "portrait_male_01.jpg", "portrait_male_02.jpg"))
    cache = SourceEmbeddingCache(max_entries=2)
    computed = []

    def embed(source) -> None:
        cache.embeddings(source, params, models)
        computed.append(cache.computed)

    for source in (first, second, first, third):  # the first is used again, so the second is the oldest
        embed(source)
    assert computed == [1, 2, 2, 3]
    embed(first)
    assert cache.computed == 3, "the recently used source was evicted"
    embed(second)
    assert cache.computed == 4, "the least recently used source was kept"
