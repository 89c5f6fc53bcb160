"""A real redis-server on a free loopback port (no persistence, stopped by its PID) and real `serve --redis`
and `worker --redis` processes around it, for the cluster tests and bench/cluster_throughput.py. Workers
find tools/engine_standins.py's stand-in engines by FACESWAP_V3_WORKER_ENGINE."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

TOOLS = Path(__file__).resolve().parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: nothing is loaded in a forked child
except (OSError, AttributeError):  # not Linux
    _prctl = None
STARTED: list[subprocess.Popen] = []  # what popen() started, for end_started()


def dies_with_parent(then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A preexec_fn: the child is sent SIGKILL when the thread that starts it ends (Linux), so an
    interrupted test run or bench leaves no redis-server, server or worker behind; then() runs after."""
    parent = os.getpid()

    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent ended before prctl: nobody will send the signal
                os._exit(1)
        if then is not None:
            then()

    return preexec


def popen(args: list[str], then: Callable[[], None] | None = None, **kwargs) -> subprocess.Popen:
    """subprocess.Popen for a helper process of the tests or benches: it dies with its parent and
    end_started() ends it if it is still running."""
    process = subprocess.Popen(args, preexec_fn=dies_with_parent(then), **kwargs)
    STARTED.append(process)
    return process


def end_started() -> None:
    """Kill what popen() started that still runs, by its PID (its process group when it leads one)."""
    for process in STARTED:
        if process.poll() is None:
            try:
                if os.getpgid(process.pid) == process.pid:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
    STARTED.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server(password: str | None = None):
    """Yields the URL of a fresh redis-server (db 0) on 127.0.0.1, asking for password when one is given."""
    import redis

    folder = tempfile.mkdtemp(prefix="fsv3-redis-")
    port = free_port()
    process = popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", folder, "--protected-mode", "yes",
                     *(("--requirepass", password) if password else ())],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://:{password}@127.0.0.1:{port}/0" if password else f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()
        yield url
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _env(engine: str | None, extra: dict | None = None) -> dict:
    env = {**os.environ, "FACESWAP_V3_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(TOOLS), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("FACESWAP_V3_WORKER_ENGINE", None)
    if engine:
        env["FACESWAP_V3_WORKER_ENGINE"] = f"engine_standins:{engine}"
    return {**env, **(extra or {})}


class Processes:
    """Started processes, each in its own process group, logging to files in a temporary folder (a pipe
    nobody reads would stop a busy worker); stop() ends what is still running."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []
        self.logs = Path(tempfile.mkdtemp(prefix="fsv3-cluster-logs-"))

    def _start(self, command: list[str], env: dict, ready: str) -> tuple[subprocess.Popen, str]:
        log = self.logs / f"{len(self.started)}.log"
        with open(log, "w") as out:
            process = popen([sys.executable, "-m", "faceswap_v3", *command], stdout=out,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.started.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in log.read_text().splitlines():
                if ready in line:
                    return process, line
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{command[0]} did not start: {log.read_text()[-2000:]}")

    def worker(self, redis_url: str, engine: str | None = "sleep_engine", *args: str,
               env: dict | None = None) -> subprocess.Popen:
        checks = [] if any(a.startswith("--content-check") for a in args) else ["--no-content-check"]
        process, line = self._start(["worker", "--redis", redis_url, *checks, *args], _env(engine, env),
                                    "taking jobs")
        process.name = line.split()[1]
        return process

    def api(self, redis_url: str, models_root: Path, *args: str) -> tuple[subprocess.Popen, str]:
        process, line = self._start(["serve", "--port", "0", "--redis", redis_url, "--models-dir", str(models_root),
                                     *args], _env(None), "serving the Faceswap V3 API on ")
        return process, line.strip().rsplit(" ", 1)[1]

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.logs, ignore_errors=True)
