"""A cluster worker (`python -m faceswap_v3 worker`, a real process) whose Redis stops answering: it waits out
its grace period (--redis-grace), then exits non-zero with one line naming the Redis URL, its password
masked, for a supervisor to restart it; and SIGTERM ends it within 10 s whether Redis answers, was stopped,
or hangs, even while a job's engine call still runs. Real redis-server processes, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

redis = pytest.importorskip("redis")
pytest.importorskip("arq")

from cluster_processes import REDIS_SERVER, Processes, redis_server  # noqa: E402
from server_harness import b64, png_bytes  # noqa: E402
from faceswap_v3.server.redis_store import job_key  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER) and os.environ.get("CI") != "true",
                                reason="redis-server is not installed (CI installs it: .ci/run)")
PASSWORD = "s3cret-pass"
SIGTERM_WITHIN_S = 10  # the bound: a supervisor's stop must not need SIGKILL


def _redis_pid(url: str) -> int:
    return int(redis.Redis.from_url(url).info("server")["process_id"])


def _log(processes: Processes, worker: subprocess.Popen) -> str:
    return (processes.logs / f"{processes.started.index(worker)}.log").read_text()


def _wait_for_line(processes: Processes, worker: subprocess.Popen, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in _log(processes, worker):
        assert worker.poll() is None, _log(processes, worker)[-2000:]
        assert time.monotonic() < deadline, f"the worker never logged {text!r}: {_log(processes, worker)[-2000:]}"
        time.sleep(0.05)


@pytest.fixture
def processes():
    started = Processes()
    try:
        yield started
    finally:
        started.stop()


def test_a_worker_whose_redis_was_stopped_exits_after_its_grace_period_naming_the_url(processes):
    with redis_server(password=PASSWORD) as url:
        worker = processes.worker(url, "sleep_engine", "--jobs-at-once", "4", "--redis-grace", "3")
        port = url.rsplit(":", 1)[1].split("/")[0]
        os.kill(_redis_pid(url), signal.SIGKILL)
        _wait_for_line(processes, worker, "does not answer")
        status = worker.wait(timeout=60)
        log = _log(processes, worker)
    assert status == 1, log[-2000:]
    last = log.strip().splitlines()[-1]
    assert last == (f"error: Redis at redis://:***@127.0.0.1:{port}/0 has not answered for 3 s (--redis-grace); "
                    "this worker stops so that its supervisor can restart it")
    assert PASSWORD not in log


def test_a_worker_waits_out_a_redis_that_answers_again_within_its_grace_period(processes):
    with redis_server() as url:
        worker = processes.worker(url, "sleep_engine", "--redis-grace", "120")
        pid = _redis_pid(url)
        os.kill(pid, signal.SIGSTOP)
        try:
            _wait_for_line(processes, worker, "does not answer")
            _wait_for_line(processes, worker, "reconnecting")
            time.sleep(6)  # several failed heartbeats (one each 2 s), all within the grace period
        finally:
            os.kill(pid, signal.SIGCONT)
        _wait_for_line(processes, worker, "answers again")
        assert worker.poll() is None
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=SIGTERM_WITHIN_S) == 0


@pytest.mark.parametrize("redis_state", ["answering", "killed", "hanging"])
def test_sigterm_ends_a_worker_within_10_s_whatever_its_redis_does(processes, redis_state):
    with redis_server() as url:
        worker = processes.worker(url, "sleep_engine", "--jobs-at-once", "4")
        _wait_for_line(processes, worker, "Starting worker")  # arq's: its signal handlers are in place
        pid = _redis_pid(url)
        if redis_state == "killed":
            os.kill(pid, signal.SIGKILL)
            _wait_for_line(processes, worker, "reconnecting")
        elif redis_state == "hanging":
            os.kill(pid, signal.SIGSTOP)
            _wait_for_line(processes, worker, "does not answer")
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            status = worker.wait(timeout=SIGTERM_WITHIN_S)
        finally:
            if redis_state == "hanging":
                os.kill(pid, signal.SIGCONT)
    assert status == 0, _log(processes, worker)[-2000:]
    assert "stopped" in _log(processes, worker)


def test_sigterm_ends_a_worker_within_10_s_while_a_job_runs_and_redis_is_gone(processes, swap_root):
    with redis_server() as url:
        worker = processes.worker(url, "sleep_engine", env={"FACESWAP_V3_STANDIN_SLEEP_S": "120"})
        _, api = processes.api(url, swap_root)
        job = httpx.post(f"{api}/v2/faceswap-v3", json={"source_img": b64(png_bytes()), "target_img": b64(png_bytes()),
                                                        "image_format": "png"}, timeout=30).json()
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 60
        while client.hget(job_key(job["request_id"]), "state") != b"PROCESSING":
            assert time.monotonic() < deadline, "the worker never took the job"
            time.sleep(0.05)
        os.kill(_redis_pid(url), signal.SIGKILL)
        _wait_for_line(processes, worker, "does not answer")
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=SIGTERM_WITHIN_S) == 0


STARTS_A_CLUSTER = """
import sys, time
sys.path[:0] = sys.argv[1:3]
from cluster_processes import Processes, redis_server
with redis_server() as url:
    worker = Processes().worker(url, "sleep_engine")
    print(worker.pid, flush=True)
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # ended, not yet reaped by its new parent
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_a_redis_server_and_worker_started_by_a_killed_test_process_end_with_it():
    tests = Path(__file__).resolve().parent
    parent = subprocess.Popen([sys.executable, "-c", STARTS_A_CLUSTER, str(tests), str(tests.parent / "tools")],
                              stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        children = [int(p) for p in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()]
        assert worker in children and len(children) == 2  # the redis-server and the worker
        assert not any(_gone(pid) for pid in children)
    finally:
        parent.kill()  # SIGKILL: no clean-up of its own runs
        parent.wait()
    deadline = time.monotonic() + 30
    try:
        while not all(_gone(pid) for pid in children):
            assert time.monotonic() < deadline, f"still running: {[pid for pid in children if not _gone(pid)]}"
            time.sleep(0.05)
    finally:
        for pid in children:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
