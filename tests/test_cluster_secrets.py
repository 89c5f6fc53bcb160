"""The Redis password stays with the operator: in every URL form redis-py reads (redis://:pw@host,
redis://user:pw@host, redis://host/0?password=pw, rediss://, unix://) it is masked in every log line, never in
an answer or a metric, and client answers do not name the job store's address at all (the operator's log does).
The URL can come from a file or an environment variable, so `ps` does not show it. Real redis-server, real
`serve` and `worker` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

redis = pytest.importorskip("redis")
pytest.importorskip("arq")

from cluster_processes import REDIS_SERVER, Processes, _env, free_port, redis_server  # noqa: E402
from server_harness import b64, png_bytes  # noqa: E402
from faceswap_v3.server.redis_store import UNAVAILABLE, shown_url  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER) and os.environ.get("CI") != "true",
                                reason="redis-server is not installed (CI installs it: .ci/run)")
PASSWORD = "pw-Zx81-hush"
FORMS = {"colon": "redis://:{pw}@127.0.0.1:{port}/0", "user": "redis://default:{pw}@127.0.0.1:{port}/0",
         "query": "redis://127.0.0.1:{port}/0?password={pw}"}


@pytest.mark.parametrize("url", [
    f"redis://:{PASSWORD}@10.0.0.5:6379/0", f"redis://default:{PASSWORD}@10.0.0.5/0",
    f"redis://10.0.0.5:6379/0?password={PASSWORD}", f"redis://10.0.0.5/0?db=1&PASSWORD={PASSWORD}&x=1",
    f"rediss://user:{PASSWORD}@redis.example.org:6380/0?ssl_cert_reqs=none", f"unix:///run/redis.sock?password={PASSWORD}",
    f"redis://:{PASSWORD}@[::1]:6379/0", "redis://:p%40ss-Zx81-hush@10.0.0.5:6379/0"])
def test_every_url_form_is_shown_without_its_password_but_with_its_address(url):
    shown = shown_url(url)
    assert "Zx81" not in shown and "***" in shown
    assert shown.split("://")[0] == url.split("://")[0]
    assert any(host in shown for host in ("10.0.0.5", "redis.example.org", "/run/redis.sock", "[::1]"))


def _logs(processes: Processes) -> str:
    return "\n".join(path.read_text() for path in sorted(processes.logs.glob("*.log")))


def _start(processes: Processes, command: list[str], ready: str, env: dict | None = None) -> subprocess.Popen:
    process, _ = processes._start(command, {**_env("instant_engine" if command[0] == "worker" else None), **(env or {})},
                                  ready)
    return process


def _cmdline(process: subprocess.Popen) -> str:
    return open(f"/proc/{process.pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()


@pytest.mark.parametrize("form", sorted(FORMS))
def test_no_password_in_any_log_line_answer_or_metric_through_an_outage(form, swap_root, tmp_path):
    processes = Processes()
    try:
        with redis_server(password=PASSWORD) as served:
            port = int(served.rsplit(":", 1)[1].split("/")[0])
            url = FORMS[form].format(pw=PASSWORD, port=port)
            url_file = tmp_path / "redis-url"
            url_file.write_text(url + "\n")
            # the worker takes the URL on its command line (the form the log must still mask), the API from a
            # file and a second worker from the environment: neither shows it in `ps`
            _start(processes, ["worker", "--redis", url, "--no-content-check"], "taking jobs")
            quiet = _start(processes, ["worker", "--no-content-check", "--name", "from-env"], "taking jobs",
                           {"FACESWAP_V3_REDIS_URL": url})
            api = _start(processes, ["serve", "--port", "0", "--redis-file", str(url_file), "--models-dir",
                                     str(swap_root)], "serving the Faceswap V3 API on ")
            assert PASSWORD not in _cmdline(api) and PASSWORD not in _cmdline(quiet)
            base = [line for line in _logs(processes).splitlines() if "serving the Faceswap V3 API on" in line][0]
            base = base.rsplit(" ", 1)[1]
            job = {"source_img": b64(png_bytes(40, 32)), "target_img": b64(png_bytes()), "image_format": "png"}
            request_id = httpx.post(f"{base}/v2/faceswap-v3", json=job, timeout=30).json()["request_id"]
            answers = [httpx.get(f"{base}/v2/requests/{request_id}/status", timeout=10)]
            answers += [httpx.get(f"{base}/metrics", timeout=10), httpx.get(f"{base}/health", timeout=10)]
            os.kill(int(redis.Redis.from_url(url).info("server")["process_id"]), signal.SIGKILL)
            down = [httpx.get(f"{base}/v2/requests/{request_id}/status", timeout=10),
                    httpx.post(f"{base}/v2/faceswap-v3", json=job, timeout=30),
                    httpx.get(f"{base}/metrics", timeout=10), httpx.get(f"{base}/health", timeout=10)]
            assert [a.status_code for a in down] == [503] * 4
            assert all(a.json()["error"] == UNAVAILABLE for a in down)
            deadline = time.monotonic() + 30
            while "cannot be reached" not in _logs(processes) or "does not answer" not in _logs(processes):
                assert time.monotonic() < deadline, _logs(processes)[-3000:]
                time.sleep(0.1)
        for answer in answers + down:
            assert PASSWORD not in answer.text and str(port) not in answer.text, answer.text
        logs = _logs(processes)
        assert PASSWORD not in logs
        assert f"127.0.0.1:{port}" in logs  # the operator's log names the store
    finally:
        processes.stop()


@pytest.mark.parametrize("form", ["colon", "query", "rediss"])
def test_an_unreachable_redis_is_named_without_its_password_for_api_and_worker(form, swap_root):
    port = free_port()
    url = (f"rediss://default:{PASSWORD}@127.0.0.1:{port}/0" if form == "rediss"
           else FORMS[form].format(pw=PASSWORD, port=port))
    for command in (["worker", "--no-content-check"], ["serve", "--port", "0", "--models-dir", str(swap_root)]):
        done = subprocess.run([sys.executable, "-m", "faceswap_v3", *command], capture_output=True, text=True,
                              timeout=120, env={**_env(None), "FACESWAP_V3_REDIS_URL": url})
        assert done.returncode == 2, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        assert f"127.0.0.1:{port}" in done.stderr


def test_a_worker_without_any_redis_url_says_where_to_give_one(tmp_path):
    env = {k: v for k, v in _env(None).items() if k != "FACESWAP_V3_REDIS_URL"}
    done = subprocess.run([sys.executable, "-m", "faceswap_v3", "worker", "--no-content-check"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 2 and "--redis-file" in done.stderr and "FACESWAP_V3_REDIS_URL" in done.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = subprocess.run([sys.executable, "-m", "faceswap_v3", "worker", "--redis-file", str(empty),
                           "--no-content-check"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and "is empty" in done.stderr
