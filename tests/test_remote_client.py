"""Our API client against small loopback servers made to misbehave, and against our own server."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch
import pytest
from aiohttp import web

from support import FACES
from faceswap_v3.pipeline.remote.client import FaceswapClient, RemoteCancelled, RemoteConfig, RemoteError

IMAGE = (FACES / "portrait_male_02.jpg").read_bytes()
KEY = "sk-very-secret-0123"


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers, body) for its path;
    body "HANG" never answers, body "HUGE" claims 100 MB and streams until the client hangs up."""

    script: dict = {}
    seen: list = []

    def _answer(self):
        self.seen.append((self.command, self.path, dict(self.headers)))
        steps = self.script.get(self.path, [(404, {}, b'{"error": "no route"}')])
        status, headers, body = steps.pop(0) if len(steps) > 1 else steps[0]
        if body == "HANG":
            time.sleep(5)
            return
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if body == "HUGE":
            self.send_header("Content-Length", str(100 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"\0" * 1024 * 1024)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self._answer()

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    handler = type("Handler", (Scripted,), {"script": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.script, server.seen = handler.script, handler.seen
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def make_client(url: str, **config) -> tuple[FaceswapClient, list[float]]:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))

    settings = {"base_url": url, "storage_url": url, "api_key": KEY, "backoff_s": 0.2, **config}
    return FaceswapClient(RemoteConfig(**settings), sleep=sleep), sleeps


def image_response(credits="42"):
    return (200, {"Content-Type": "image/jpeg", "x-remaining-credits": credits}, IMAGE)


def test_429_is_retried_after_retry_after_then_succeeds(scripted):
    scripted.script["/v1/faceswap-v3"] = [(429, {"Retry-After": "2"}, b'{"error": "slow down"}'), image_response()]
    client, sleeps = make_client(scripted.url)
    result = client.swap_sync({"source_img": "x"})
    assert result.image == IMAGE and result.remaining_credits == "42"
    assert sleeps == [2.0]
    assert all(headers.get("x-api-key") == KEY for _, _, headers in scripted.seen)


def test_502_then_success_backs_off(scripted):
    scripted.script["/v1/faceswap-v3"] = [(502, {}, b"bad gateway"), (503, {}, b""), image_response()]
    client, sleeps = make_client(scripted.url)
    assert client.swap_sync({}).image == IMAGE
    assert sleeps == [0.2, 0.4]


def test_4xx_is_not_retried_and_each_code_says_what_to_do(scripted):
    cases = {
        400: "the API rejected the request: bad index",
        401: "the Segmind API key is missing or wrong",
        406: "the Segmind account is out of credits",
        422: "the swap failed on the server: bad index",
    }
    for status, message in cases.items():
        scripted.script["/v1/faceswap-v3"] = [(status, {"Content-Type": "application/json"},
                                               json.dumps({"error": "bad index"}).encode())]
        before = len(scripted.seen)
        client, sleeps = make_client(scripted.url)
        with pytest.raises(RemoteError) as info:
            client.swap_sync({})
        assert str(info.value).startswith(message) and info.value.status == status
        assert len(scripted.seen) - before == 1 and sleeps == []


def test_non_json_error_body_is_quoted(scripted):
    scripted.script["/v1/faceswap-v3"] = [(500, {"Content-Type": "text/html"}, b"<html>Internal oops</html>")]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError, match=r"the API answered HTTP 500: \(not JSON\) '<html>Internal oops</html>'"):
        client.swap_sync({})


def test_hung_connection_hits_the_deadline(scripted):
    scripted.script["/v1/faceswap-v3"] = [(200, {}, "HANG")]
    client, _ = make_client(scripted.url, deadline_s=1.0, request_timeout_s=0.4)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="could not reach|within the 1 s deadline"):
        client.swap_sync({})
    assert time.monotonic() - started < 4


def test_a_100_mb_response_is_refused(scripted):
    scripted.script["/v1/faceswap-v3"] = [(200, {"Content-Type": "image/jpeg"}, "HUGE")]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError, match="is 104857600 bytes; the limit is 67108864"):
        client.swap_sync({})


def test_async_polls_downloads_the_output_and_reports_progress(scripted):
    base = scripted.url
    scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
        "request_id": "r1", "status_url": f"{base}/v2/requests/r1/status",
        "response_url": f"{base}/v2/requests/r1"}).encode())]
    scripted.script["/v2/requests/r1/status"] = [(200, {}, b'{"status": "QUEUED"}'),
                                                 (200, {}, b'{"status": "PROCESSING"}'),
                                                 (200, {}, b'{"status": "COMPLETED"}')]
    scripted.script["/v2/requests/r1"] = [(200, {}, json.dumps({
        "status": "COMPLETED", "output": f"{base}/out.jpg", "metrics": {"inference_time": 1.5}}).encode())]
    scripted.script["/out.jpg"] = [image_response("7")]
    states = []
    client, _ = make_client(base, poll_interval_s=0.01)
    client.on_poll = lambda state, elapsed: states.append(state)
    result = client.swap_async({})
    assert result.image == IMAGE and result.request_id == "r1" and result.metrics == {"inference_time": 1.5}
    assert states == ["QUEUED", "PROCESSING", "COMPLETED"]
    assert result.remaining_credits == "7"


def test_async_failed_expired_and_cancelled(scripted):
    base = scripted.url
    submit = (200, {}, json.dumps({"request_id": "r2", "status_url": f"{base}/s",
                                   "response_url": f"{base}/r"}).encode())
    scripted.script["/v2/faceswap-v3"] = [submit]
    scripted.script["/s"] = [(422, {}, b'{"status": "FAILED", "error": "no face in source"}')]
    client, _ = make_client(base, poll_interval_s=0.01)
    with pytest.raises(RemoteError, match="^the swap failed on the server: no face in source$"):
        client.swap_async({})

    scripted.script["/s"] = [(200, {}, b'{"status": "COMPLETED"}')]
    scripted.script["/r"] = [(404, {}, b'{"error": "not found"}')]
    with pytest.raises(RemoteError, match="the result has expired"):
        client.swap_async({})

    scripted.script["/s"] = [(200, {}, b'{"status": "PROCESSING"}')]
    polls = []
    client.on_poll = lambda state, elapsed: polls.append(state)
    client.should_cancel = lambda: len(polls) >= 3
    with pytest.raises(RemoteCancelled):
        client.swap_async({})
    assert polls == ["PROCESSING"] * 3


def test_the_key_never_appears_in_errors(scripted):
    scripted.script["/v1/faceswap-v3"] = [(400, {}, json.dumps({"error": f"key {KEY} is malformed"}).encode())]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError) as info:
        client.swap_sync({})
    assert KEY not in str(info.value) and "***" in str(info.value)


def test_key_from_environment_or_key_file(monkeypatch, tmp_path):
    from faceswap_v3.pipeline.remote.api_key import resolve_api_key

    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    monkeypatch.setenv("SEGMIND_API_KEY_FILE", str(tmp_path / "key"))
    assert resolve_api_key() is None
    (tmp_path / "key").write_text("from-file\n")
    assert resolve_api_key() == "from-file"
    monkeypatch.setenv("SEGMIND_API_KEY", "from-env")
    assert resolve_api_key() == "from-env"
    assert resolve_api_key(" typed ") == "typed"


def test_results_expire_after_one_hour_with_an_injectable_clock(swap_root):
    """An in-process server on a real loopback socket, with a clock the test moves forward."""
    from faceswap_v3.pipeline.engine import SwapModels
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.remote.server import FaceswapServer

    now = [1000.0]
    server = FaceswapServer(models=SwapModels(store=ModelStore(models_root=swap_root, allow_download=False)),
                            clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = web.AppRunner(server.app())
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        client, _ = make_client(f"http://127.0.0.1:{port}", poll_interval_s=0.05)
        payload = {"source_img": base64.b64encode((FACES / "portrait_female_02.jpg").read_bytes()).decode(),
                   "target_img": base64.b64encode((FACES / "portrait_male_damon.jpg").read_bytes()).decode(),
                   "facedetection": "scrfd_2.5g_bnkps.onnx", "face_restore_weight": 0}
        result = client.swap_async(payload)
        assert result.image[:2] == b"\xff\xd8"
        import httpx

        status_url = f"http://127.0.0.1:{port}/v2/requests/{result.request_id}/status"
        now[0] += 3599
        assert httpx.get(status_url).json()["status"] == "COMPLETED"
        now[0] += 2
        expired = httpx.get(status_url)
        assert expired.status_code == 404
        assert httpx.get(f"http://127.0.0.1:{port}/v2/outputs/{result.request_id}.jpeg").status_code == 404
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
        server.worker.shutdown(wait=True)
        server.loader.shutdown(wait=True)


def test_remote_node_and_local_node_give_the_same_image(start_api_server, swap_root, monkeypatch):
    from faceswap_v3.nodes.faceswap_v3 import FaceswapV3
    from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
    from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
    from faceswap_v3.pipeline.images import read_image_file

    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))
    monkeypatch.setenv("SEGMIND_API_KEY", "node-key")
    server = start_api_server(swap_root, "--api-key", "node-key")
    source = frames_to_image([read_image_file(FACES / "group_2faces_women_7242.jpg")])
    target = frames_to_image([read_image_file(FACES / "couple_female_left_male_right.jpg")])
    api = {"input_faces_index": "0,1", "source_faces_index": "1,0", "face_restore": "codeformer-v0.1.0.pth",
           "interpolation": "Bilinear", "detection_face_order": "left-right",
           "facedetection": "scrfd_2.5g_bnkps.onnx", "detect_gender_input": "no", "detect_gender_source": "no",
           "face_restore_weight": 0.0, "image_format": "png", "image_quality": 95}
    local = FaceswapV3().swap(source, target, **api)[0]
    for mode, transport in (("sync", "upload"), ("async", "base64")):
        outputs = dict(zip(SegmindRemoteSwap.RETURN_NAMES,
                           SegmindRemoteSwap().swap(mode, transport, server, source_img=source, target_img=target,
                                                    storage_url=server, **api, base64=False)))
        assert np.array_equal(image_to_frames(outputs["image"])[0], image_to_frames(local)[0]), (mode, transport)
        assert outputs["remaining_credits"] == ""
    assert not np.array_equal(image_to_frames(local)[0], image_to_frames(target)[0])
    # a batch: every frame goes to the API (one call each), not just the first
    batch = torch.cat([target, torch.flip(target, dims=[2])])
    outputs = dict(zip(SegmindRemoteSwap.RETURN_NAMES,
                       SegmindRemoteSwap().swap("async", "base64", server, source_img=source, target_img=batch,
                                                storage_url=server, api_key="node-key", **api, base64=False)))
    local_batch = FaceswapV3().swap(source, batch, **api)[0]
    assert tuple(outputs["image"].shape) == tuple(batch.shape) and torch.equal(outputs["image"], local_batch)
    assert outputs["info"].startswith(f"frames swapped by {server} (async): 2")
    assert "warning: the API key typed into SegmindRemoteSwap is saved in the workflow" in outputs["info"]
