"""`python -m faceswap_v3 serve` as a real process with the real engine (stand-in swap models): the
lockout sequence, SSRF refused before any connection (redirects included), jobs surviving kill -9,
and the key from a file or the environment. Every address used is loopback."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from server_harness import Listener, image_host
from support import FACES
from test_server_guards import dds_with_unknown_pixel_format

KEY = "process-key-93d1"
KEYED = {"x-api-key": KEY}


def b64_file(name: str) -> str:
    return base64.b64encode((FACES / name).read_bytes()).decode()


def payload(**changes) -> dict:
    return {"source_img": b64_file("portrait_female_02.jpg"), "target_img": b64_file("portrait_male_damon.jpg"),
            "facedetection": "scrfd_2.5g_bnkps.onnx", "face_restore_weight": 0, "image_format": "png", **changes}


def wait_finished(base: str, request_id: str, headers=None, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/v2/requests/{request_id}", headers=headers).json()
        if answer["status"] in ("COMPLETED", "FAILED"):
            return answer
        time.sleep(0.1)
    raise AssertionError(f"job {request_id} did not finish")


def test_lockout_sequence_six_malformed_requests_then_valid_jobs_complete(start_api_server, swap_root):
    server = start_api_server(swap_root, "--max-jobs", "3")
    malformed = [
        payload(source_img="http://ex\x00ample.com/x.jpg"),  # httpx.InvalidURL on the old server
        payload(source_img="http://a..b/x.jpg"),  # UnicodeError
        payload(target_img="http://[::1"),
        payload(interpolation=None),
        payload(input_faces_index="9" * 5000),
        payload(target_img=base64.b64encode(dds_with_unknown_pixel_format()).decode()),  # NotImplementedError in PIL
    ]
    answers = [httpx.post(f"{server}/v2/faceswap-v3", json=body) for body in malformed]
    assert [a.status_code for a in answers] == [400] * 6, [a.text for a in answers]
    assert all("internal error" not in a.json()["error"] for a in answers)
    jobs = [httpx.post(f"{server}/v2/faceswap-v3", json=payload()) for _ in range(3)]
    assert [j.status_code for j in jobs] == [200] * 3
    assert [wait_finished(server, j.json()["request_id"])["status"] for j in jobs] == ["COMPLETED"] * 3


@pytest.fixture(scope="module")
def guarded_server(start_api_server, swap_root):
    """No --allow-private-urls; 127.0.0.2 plays a public image host through --allow-url-network."""
    return start_api_server(swap_root, "--allow-url-network", "127.0.0.2/32")


def test_a_loopback_listener_sees_no_connection_when_its_url_is_submitted(guarded_server):
    listener = Listener("127.0.0.1")
    closed = Listener("127.0.0.1")
    closed.close()  # a port with nothing listening: must get the same answer as the open one
    try:
        forms = [f"http://127.0.0.1:{listener.port}/x.jpg", f"http://localhost:{listener.port}/x.jpg",
                 f"http://2130706433:{listener.port}/x.jpg", f"http://0x7f.0.0.1:{listener.port}/x.jpg",
                 f"http://127.1:{listener.port}/x.jpg", f"http://[::ffff:127.0.0.1]:{listener.port}/x.jpg",
                 f"http://[::ffff:7f00:1]:{listener.port}/x.jpg", f"HTTP://127.0.0.1:{listener.port}/x.jpg",
                 f"http://127.0.0.1:{listener.port}/redirect?to=http://127.0.0.2/"]
        refused = []
        for url in forms:
            for version in ("v1", "v2"):
                answer = httpx.post(f"{guarded_server}/{version}/faceswap-v3", json=payload(source_img=url))
                refused.append((answer.status_code, answer.json()["error"]))
        open_port = httpx.post(f"{guarded_server}/v1/faceswap-v3",
                               json=payload(source_img=f"http://127.0.0.1:{listener.port}/x.jpg")).json()["error"]
        closed_port = httpx.post(f"{guarded_server}/v1/faceswap-v3",
                                 json=payload(source_img=f"http://127.0.0.1:{closed.port}/x.jpg")).json()["error"]
        assert not listener.connection_attempted()
    finally:
        listener.close()
    assert len(refused) == 2 * len(forms)
    assert all(status == 400 and error.endswith("this server fetches images from public addresses only")
               for status, error in refused), refused
    assert open_port.replace(str(listener.port), "PORT") == closed_port.replace(str(closed.port), "PORT")


def test_a_redirect_from_an_allowed_origin_to_a_refused_one_is_refused_before_connecting(guarded_server):
    listener = Listener("127.0.0.1")
    face = (FACES / "portrait_female_02.jpg").read_bytes()
    routes = {"/face.jpg": (200, {"Content-Type": "image/jpeg"}, face),
              "/inward": (302, {"Location": f"http://127.0.0.1:{listener.port}/x.jpg"}, b""),
              "/hop": (307, {"Location": "/inward"}, b"")}
    try:
        with image_host("127.0.0.2", routes) as host:
            allowed = httpx.post(f"{guarded_server}/v2/faceswap-v3", json=payload(source_img=f"{host}/face.jpg"))
            redirected = [httpx.post(f"{guarded_server}/v1/faceswap-v3", json=payload(source_img=f"{host}{path}"))
                          for path in ("/inward", "/hop")]
            done = wait_finished(guarded_server, allowed.json()["request_id"])
        assert not listener.connection_attempted()
    finally:
        listener.close()
    assert allowed.status_code == 200 and done["status"] == "COMPLETED"
    for answer in redirected:
        assert answer.status_code == 400
        assert answer.json()["error"] == (f"could not fetch http://127.0.0.1:{listener.port}/x.jpg: this server "
                                          "fetches images from public addresses only")


def big_target() -> str:
    """The damon portrait at 3000x4000: its PNG result keeps the worker busy for seconds."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(FACES / "portrait_male_damon.jpg").convert("RGB").resize((3000, 4000)).save(out, "JPEG", quality=90)
    return base64.b64encode(out.getvalue()).decode()


def test_kill_9_with_queued_jobs_and_a_restart_that_finishes_them(start_api_server, swap_root, tmp_path):
    data_dir = tmp_path / "data"
    server = start_api_server(swap_root, "--data-dir", str(data_dir), "--api-key", KEY)
    before = httpx.post(f"{server}/v2/faceswap-v3", json=payload(), headers=KEYED).json()["request_id"]
    assert wait_finished(server, before, KEYED)["status"] == "COMPLETED"
    slow = httpx.post(f"{server}/v2/faceswap-v3", json=payload(target_img=big_target()), headers=KEYED
                      ).json()["request_id"]
    queued = [httpx.post(f"{server}/v2/faceswap-v3", json=payload(image_format=fmt), headers=KEYED).json()["request_id"]
              for fmt in ("jpeg", "webp", "png")]
    deadline = time.monotonic() + 60
    while httpx.get(f"{server}/v2/requests/{slow}/status", headers=KEYED).json()["status"] != "PROCESSING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    states = [httpx.get(f"{server}/v2/requests/{r}/status", headers=KEYED).json()["status"] for r in queued]
    assert states == ["QUEUED"] * 3
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)

    again = start_api_server(swap_root, "--data-dir", str(data_dir), "--api-key", KEY)
    results = [wait_finished(again, r, KEYED) for r in [slow, *queued]]
    assert [r["status"] for r in results] == ["COMPLETED"] * 4
    assert [r["output"].rsplit(".", 1)[1] for r in results] == ["png", "jpeg", "webp", "png"]
    for result in [wait_finished(again, before, KEYED), *results]:
        image = httpx.get(result["output"], headers=KEYED)
        assert image.status_code == 200 and len(image.content) > 1000


def test_the_key_from_a_file_or_the_environment_and_a_warning_without_one(start_api_server, swap_root, tmp_path,
                                                                          monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    from_file = start_api_server(swap_root, "--api-key-file", str(key_file))
    assert httpx.post(f"{from_file}/v1/faceswap-v3", json=payload()).status_code == 401
    # a fresh server's first job loads its models: more than httpx's default 5 s on a busy machine
    assert httpx.post(f"{from_file}/v1/faceswap-v3", json=payload(), headers=KEYED, timeout=120).status_code == 200

    monkeypatch.setenv("FACESWAP_V3_API_KEY", "from-env-key")
    from_env = start_api_server(swap_root)
    monkeypatch.delenv("FACESWAP_V3_API_KEY")
    assert httpx.get(f"{from_env}/v2/requests/x/status").status_code == 401
    assert httpx.get(f"{from_env}/v2/requests/x/status", headers={"x-api-key": "from-env-key"}).status_code == 404

    # 192.0.2.1 (TEST-NET) is on no interface: the warning comes first, then binding fails; no traffic
    warned = subprocess.run([sys.executable, "-m", "faceswap_v3", "serve", "--host", "192.0.2.1", "--port", "0",
                             "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FACESWAP_V3_OFFLINE": "1"})
    assert warned.returncode != 0
    assert warned.stderr.startswith("WARNING: serving on 192.0.2.1 without an API key")
