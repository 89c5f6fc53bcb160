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

from support import FACES, named
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.client.api_key import choose_key, origin
from faceswap_v3.client.segmind_client import (FaceswapClient, RemoteCancelled, RemoteConfig, RemoteError,
                                                RemoteRejected)

IMAGE = (FACES / "portrait_male_02.jpg").read_bytes()
KEY = "sk-very-secret-0123"


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers, body) for its path (or what a
    callable script returns for the request's headers);
    body "HANG" never answers, body "HUGE" claims 100 MB and streams until the client hangs up."""

    script: dict = {}
    seen: list = []

    def _answer(self):
        self.seen.append((self.command, self.path, dict(self.headers)))
        steps = self.script.get(self.path, [(404, {}, b'{"error": "no route"}')])
        if callable(steps):
            status, headers, body = steps(self.headers)
        else:
            status, headers, body = steps.pop(0) if len(steps) > 1 else steps[0]
        if body == "HANG":
            time.sleep(5)
            return
        if body == "CLOSE":  # read the request, then hang up without answering
            self.close_connection = True
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


def scripted_server(listen: bool = True) -> ThreadingHTTPServer:
    """A Scripted server bound to a free loopback port; listen=False leaves it bound but refusing
    connections until server.start() (a connect failure that the test can end when it likes)."""
    handler = type("Handler", (Scripted,), {"script": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
    server.allow_reuse_address = True
    server.server_bind()
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.script, server.seen = handler.script, handler.seen

    def start():
        server.server_activate()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        server.started = True

    server.started = False
    server.start = start
    if listen:
        start()
    return server


def stop(server) -> None:
    if server.started:
        server.shutdown()
    server.server_close()


@pytest.fixture
def scripted():
    server = scripted_server()
    yield server
    stop(server)


@pytest.fixture
def other(monkeypatch):
    """A second loopback server: another origin (another port), which must never see the key (the
    client goes there at all only with the user's opt-in to private addresses)."""
    monkeypatch.setenv("FACESWAP_V3_ALLOW_PRIVATE_URLS", "1")
    server = scripted_server()
    yield server
    stop(server)


def posts(server) -> int:
    return sum(1 for method, _, _ in server.seen if method == "POST")


def keys_seen(server) -> list:
    return [headers.get("x-api-key") for _, _, headers in server.seen if "x-api-key" in {k.lower() for k in headers}]


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


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_to_a_billed_post_is_not_sent_again(scripted, status):
    scripted.script["/v1/faceswap-v3"] = [(status, {}, b"bad gateway"), image_response()]
    client, sleeps = make_client(scripted.url)
    with pytest.raises(RemoteError, match=f"HTTP {status}.*not retried, because the API may have run and billed it"):
        client.swap_sync({})
    assert posts(scripted) == 1 and sleeps == []


@pytest.mark.parametrize("answer", ["HANG", "CLOSE"])
def test_a_post_whose_answer_is_lost_after_sending_is_not_sent_again(scripted, answer):
    """A read timeout or a hang-up after the body went out: the job may be running and billed."""
    for path in ("/v1/faceswap-v3", "/v2/faceswap-v3", "/upload-asset"):
        scripted.script[path] = [(200, {}, answer), image_response()]
    client, sleeps = make_client(scripted.url, request_timeout_s=0.3)
    for call in (lambda: client.swap_sync({}), lambda: client.swap_async({}),
                 lambda: client.upload_asset(b"png", "image/png")):
        before = posts(scripted)
        with pytest.raises(RemoteError, match="after the request was sent .*not retried") as info:
            call()
        assert not isinstance(info.value, BadInput)
        assert posts(scripted) - before == 1
    assert sleeps == []


def test_v2_submit_and_upload_answered_502_are_posted_once(scripted):
    scripted.script["/v2/faceswap-v3"] = [(502, {}, b""), (200, {}, b'{"request_id": "x"}')]
    scripted.script["/upload-asset"] = [(503, {}, b""), (200, {}, b'{"file_urls": ["http://127.0.0.1/a.png"]}')]
    client, sleeps = make_client(scripted.url)
    with pytest.raises(RemoteError, match="HTTP 502"):
        client.swap_async({})
    with pytest.raises(RemoteError, match="HTTP 503"):
        client.upload_asset(b"png", "image/png")
    assert posts(scripted) == 2 and sleeps == []


def test_a_post_that_never_connected_is_retried_until_the_server_listens():
    """Connection refused proves the request never left: retrying cannot bill twice."""
    server = scripted_server(listen=False)
    server.script["/v1/faceswap-v3"] = [image_response()]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            server.start()

    try:
        client = FaceswapClient(RemoteConfig(base_url=server.url, api_key=KEY, backoff_s=0.2), sleep=sleep)
        assert client.swap_sync({}).image == IMAGE
        assert sleeps == [0.2, 0.4] and posts(server) == 1
    finally:
        stop(server)


def test_a_post_never_follows_a_redirect(scripted, other):
    scripted.script["/v1/faceswap-v3"] = [(307, {"Location": f"{other.url}/v1/faceswap-v3"}, b"")]
    other.script["/v1/faceswap-v3"] = [image_response()]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError, match="redirect to http://127.0.0.1:.*set the address to the one it redirects to"):
        client.swap_sync({})
    assert posts(scripted) == 1 and other.seen == []


def test_polls_are_gets_and_retry_on_502_503_and_timeouts(scripted):
    base = scripted.url
    scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
        "request_id": "r1", "status_url": f"{base}/s", "response_url": f"{base}/r"}).encode())]
    scripted.script["/s"] = [(502, {}, b""), (200, {}, "HANG"), (503, {"Retry-After": "0.1"}, b""),
                             (200, {}, b'{"status": "COMPLETED"}')]
    scripted.script["/r"] = [(504, {}, b""), (200, {}, json.dumps({
        "status": "COMPLETED", "output": base64.b64encode(IMAGE).decode()}).encode())]
    client, sleeps = make_client(base, request_timeout_s=0.3, poll_interval_s=0.01)
    assert client.swap_async({}).image == IMAGE
    assert posts(scripted) == 1
    assert sleeps == [0.2, 0.4, 0.1, 0.2]


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


def test_a_non_json_answer_is_described_by_its_size_never_quoted(scripted):
    scripted.script["/v1/faceswap-v3"] = [(500, {"Content-Type": "text/html"}, b"<html>TOPSECRET oops</html>")]
    scripted.script["/v2/faceswap-v3"] = [(200, {}, b"TOPSECRET not json")]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError, match=r"the API answered HTTP 500: \(an answer of 27 bytes that is not JSON") as info:
        client.swap_sync({})
    with pytest.raises(RemoteError, match=r"submit answer is not JSON \(18 bytes\)") as second:
        client.swap_async({})
    assert "TOPSECRET" not in str(info.value) + str(second.value)


def test_hung_poll_hits_the_deadline(scripted):
    scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
        "request_id": "r", "status_url": f"{scripted.url}/s", "response_url": f"{scripted.url}/r"}).encode())]
    scripted.script["/s"] = [(200, {}, "HANG")]
    client, _ = make_client(scripted.url, deadline_s=1.0, request_timeout_s=0.4, max_retries=10)
    with pytest.raises(RemoteError, match="could not reach|within the 1 s deadline"):
        client.swap_async({})
    # the deadline, not the retries, ended it: each poll waits 0.4 s for an answer that never comes, so at most
    # a few fit in the 1 s deadline (a busy machine only makes it fewer), where the 10 retries would make 11
    polls = [path for method, path, _ in scripted.seen if path == "/s"]
    assert 1 <= len(polls) <= 4, polls


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
    from faceswap_v3.client.api_key import stored_api_key

    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    monkeypatch.setenv("SEGMIND_API_KEY_FILE", str(tmp_path / "key"))
    assert stored_api_key() is None
    (tmp_path / "key").write_text("from-file\n")
    assert stored_api_key() == "from-file"
    monkeypatch.setenv("SEGMIND_API_KEY", "from-env")
    assert stored_api_key() == "from-env"


def test_results_expire_after_one_hour_with_an_injectable_clock(swap_root):
    """An in-process server on a real loopback socket, with a clock the test moves forward."""
    from faceswap_v3.pipeline.swap_models import SwapModels
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.server.app import FaceswapServer

    now = [1000.0]
    server = FaceswapServer(models=SwapModels(store=ModelStore(models_root=swap_root, allow_download=False)),
                            clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = server.web_runner()
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
        server.close()


def test_remote_node_and_local_node_give_the_same_image(start_api_server, swap_root, monkeypatch):
    from faceswap_v3.nodes.all_in_one import FaceswapV3
    from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
    from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
    from faceswap_v3.pipeline.runtime.images import read_image_file

    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))
    monkeypatch.setenv("SEGMIND_API_KEY", "node-key")
    monkeypatch.setenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", "1")  # our own server, not Segmind's
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


# --- the key goes to the API's origin only -------------------------------------------------------------


def test_status_response_and_output_urls_on_another_origin_never_get_the_key(scripted, other):
    scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
        "request_id": "r1", "status_url": f"{other.url}/status", "response_url": f"{other.url}/result"}).encode())]
    other.script["/status"] = [(200, {}, b'{"status": "COMPLETED"}')]
    other.script["/result"] = [(200, {}, json.dumps({"status": "COMPLETED", "output": f"{other.url}/out.jpg"}).encode())]
    other.script["/out.jpg"] = [image_response()]
    client, _ = make_client(scripted.url, storage_url=scripted.url)
    assert client.swap_async({}).image == IMAGE
    assert [path for _, path, _ in other.seen] == ["/status", "/result", "/out.jpg"]
    assert keys_seen(other) == [] and keys_seen(scripted) == [KEY]


def test_redirects_from_the_api_to_another_origin_drop_the_key_and_come_back_with_it(scripted, other):
    base = scripted.url
    scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
        "request_id": "r1", "status_url": f"{base}/s", "response_url": f"{base}/r"}).encode())]
    scripted.script["/s"] = [(302, {"Location": f"{other.url}/s"}, b"")]
    other.script["/s"] = [(307, {"Location": f"{base}/s2"}, b"")]  # and back to the API's origin
    scripted.script["/s2"] = [(200, {}, b'{"status": "COMPLETED"}')]
    scripted.script["/r"] = [(200, {}, json.dumps({"status": "COMPLETED", "output": f"{base}/o.jpg"}).encode())]
    scripted.script["/o.jpg"] = [(301, {"Location": f"{other.url}/storage/o.jpg"}, b"")]
    other.script["/storage/o.jpg"] = [image_response()]
    client, _ = make_client(base, poll_interval_s=0.01)
    assert client.swap_async({}).image == IMAGE
    assert [path for _, path, _ in other.seen] == ["/s", "/storage/o.jpg"]
    assert keys_seen(other) == []
    assert keys_seen(scripted) == [KEY] * 5  # submit, /s, /s2, /r, /o.jpg


def test_sync_json_output_and_uploads_on_another_origin_never_get_the_key(scripted, other):
    scripted.script["/v1/faceswap-v3"] = [(200, {"Content-Type": "application/json"},
                                           json.dumps({"image": f"{other.url}/out.jpg"}).encode())]
    other.script["/out.jpg"] = [image_response()]
    other.script["/upload-asset"] = [(200, {}, json.dumps({"file_urls": [f"{other.url}/a.png"]}).encode())]
    """The key chosen for the API's origin only (the stored key, with a storage_url Segmind does not run)."""
    client = FaceswapClient(RemoteConfig(base_url=scripted.url, storage_url=other.url, api_key=KEY,
                                         key_origins=(origin(scripted.url),)))
    assert client.upload_asset(b"png", "image/png") == f"{other.url}/a.png"
    assert client.swap_sync({}).image == IMAGE
    assert keys_seen(other) == [] and keys_seen(scripted) == [KEY]


def test_the_stored_key_goes_to_segminds_addresses_only_unless_allowed(monkeypatch):
    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    monkeypatch.delenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", raising=False)
    official = ("https", "api.segmind.com", 443)
    storage = ("https", "workflows-api.segmind.com", 443)
    assert choose_key("https://api.segmind.com/", "https://workflows-api.segmind.com").origins == (official, storage)
    assert choose_key("HTTPS://API.segmind.com:443", "https://workflows-api.segmind.com").origins[0] == official
    for base in ("http://api.segmind.com", "https://api.segmind.com:8443", "https://api.segmind.com.evil.example"):
        assert official not in choose_key(base, "https://workflows-api.segmind.com").origins
    shared = choose_key("https://api.segmind.com", "https://evil.example")  # storage_url edited in a workflow
    assert shared.origins == (official,) and "https://evil.example:443" in shared.withheld_hint
    local = choose_key("http://127.0.0.1:8189", "http://127.0.0.1:8189")
    assert local.key == KEY and local.origins == ()
    assert "SEGMIND_ALLOW_CUSTOM_BASE_URL=1" in local.withheld_hint
    assert choose_key("http://127.0.0.1:8189", "http://127.0.0.1:8189", "typed").origins == (
        ("http", "127.0.0.1", 8189),)
    monkeypatch.setenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", "1")
    assert choose_key("http://127.0.0.1:8189", "http://127.0.0.1:8189").origins == (("http", "127.0.0.1", 8189),)
    with pytest.raises(BadInput, match="^base_url: only http\\(s\\) URLs are accepted, got ftp://example.com$"):
        choose_key("ftp://example.com", "https://workflows-api.segmind.com")


def test_remote_node_sends_the_environment_key_to_a_custom_base_url_only_when_allowed(scripted, other, monkeypatch):
    """A shared workflow whose base_url points elsewhere must not receive the user's SEGMIND_API_KEY."""
    from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
    from faceswap_v3.nodes.tensors import image_to_frames
    from faceswap_v3.pipeline.options import API_PARAMETERS, DEFAULTS

    scripted.script["/v1/faceswap-v3"] = lambda headers: (
        image_response() if headers.get("x-api-key") in (KEY, "typed-key") else (401, {}, b'{"error": "no key"}'))
    monkeypatch.setenv("SEGMIND_API_KEY", KEY)
    monkeypatch.delenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", raising=False)
    urls = {"source_url": f"{other.url}/s.jpg", "target_url": f"{other.url}/t.jpg", "storage_url": other.url}
    api = {name: DEFAULTS[name] for name in API_PARAMETERS}
    node = SegmindRemoteSwap()
    with pytest.raises(RemoteError, match="none was sent.*set SEGMIND_ALLOW_CUSTOM_BASE_URL=1") as info:
        node.swap("sync", "upload", scripted.url, **urls, **api)
    assert KEY not in str(info.value) and keys_seen(scripted) == []

    image = named(SegmindRemoteSwap, node.swap("sync", "upload", scripted.url, api_key="typed-key", **urls, **api))["image"]
    assert image_to_frames(image)[0].shape[2] == 3 and keys_seen(scripted) == ["typed-key"]

    monkeypatch.setenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", "1")
    node.swap("sync", "upload", scripted.url, **urls, **api)
    assert keys_seen(scripted) == ["typed-key", KEY]
    assert other.seen == []  # URLs are passed to the API, never fetched by the client


# --- errors in the right class -------------------------------------------------------------------------


def test_malformed_answers_are_remote_errors_not_bad_input(scripted):
    base = scripted.url
    cases = [
        ("/v1/faceswap-v3", (200, {"Content-Type": "application/json"}, b'{"image": "not base64 !!"}'),
         "neither an http\\(s\\) URL nor base64"),
        ("/v1/faceswap-v3", (200, {"Content-Type": "application/json"}, b"[1, 2"), "sync answer is not JSON"),
        ("/v2/faceswap-v3", (200, {}, b"<html>"), "submit answer is not JSON"),
        ("/v2/faceswap-v3", (200, {}, json.dumps({"request_id": "r", "status_url": "file:///etc/passwd",
                                                   "response_url": f"{base}/r"}).encode()),
         "status_url is not an http\\(s\\) URL"),
    ]
    client, _ = make_client(base)
    for path, answer, message in cases:
        scripted.script[path] = [answer]
        with pytest.raises(RemoteError, match=message) as info:
            client.swap_sync({}) if path.startswith("/v1") else client.swap_async({})
        assert not isinstance(info.value, BadInput), message


def test_a_failed_job_is_rejected_input_and_a_server_fault_is_not(scripted):
    client, _ = make_client(scripted.url)
    scripted.script["/v1/faceswap-v3"] = [(422, {}, b'{"error": "no face found in the source image"}')]
    with pytest.raises(RemoteRejected) as failed:
        client.swap_sync({})
    assert failed.value.status == 422 and isinstance(failed.value, BadInput)
    scripted.script["/v1/faceswap-v3"] = [(500, {}, b'{"error": "internal error"}')]
    with pytest.raises(RemoteError) as fault:
        client.swap_sync({})
    assert fault.value.status == 500 and not isinstance(fault.value, BadInput)


# --- URLs the API hands back are guarded like Load Face's ---------------------------------------------
@pytest.mark.parametrize("where", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/out.png",
                                   "LISTENER", "REDIRECT"])
def test_a_private_output_url_is_refused_and_never_connected_to(scripted, where):
    from server_harness import Listener

    listener = Listener()
    try:
        inner = f"http://127.0.0.1:{listener.port}/out.png"
        output = inner if where in ("LISTENER", "REDIRECT") else where
        if where == "REDIRECT":  # an output on the API's own origin that redirects inward
            scripted.script["/out.png"] = [(302, {"Location": inner}, b"")]
            output = f"{scripted.url}/out.png"
        scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
            "request_id": "r1", "status_url": f"{scripted.url}/status", "response_url": f"{scripted.url}/result"}).encode())]
        scripted.script["/status"] = [(200, {}, b'{"status": "COMPLETED"}')]
        scripted.script["/result"] = [(200, {}, json.dumps({"status": "COMPLETED", "output": output}).encode())]
        client, _ = make_client(scripted.url)
        with pytest.raises(RemoteError, match="neither on the configured base_url/storage_url nor a public address"
                           ".*FACESWAP_V3_ALLOW_PRIVATE_URLS=1"):
            client.swap_async({})
        assert not listener.connection_attempted()
    finally:
        listener.close()


def test_a_status_url_on_a_private_address_is_refused(scripted):
    scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
        "request_id": "r1", "status_url": "http://10.0.0.1/status", "response_url": "http://10.0.0.1/r"}).encode())]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError, match="the API pointed to http://10.0.0.1/status"):
        client.swap_async({})


def test_a_response_url_on_a_private_address_is_refused(scripted):
    scripted.script["/v2/faceswap-v3"] = [(200, {}, json.dumps({
        "request_id": "r1", "status_url": f"{scripted.url}/status", "response_url": "http://10.0.0.1/r"}).encode())]
    scripted.script["/status"] = [(200, {}, b'{"status": "COMPLETED"}')]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError, match="the API pointed to http://10.0.0.1/r"):
        client.swap_async({})


def test_a_stacked_gzip_answer_is_refused_without_decoding_it(scripted):
    import gzip

    bomb = gzip.compress(gzip.compress(b"\0" * (64 * 1024 * 1024)))  # ~64 KB that decodes to 64 MB, twice
    scripted.script["/v1/faceswap-v3"] = [(200, {"Content-Type": "image/png", "Content-Encoding": "gzip, gzip"}, bomb)]
    client, _ = make_client(scripted.url)
    with pytest.raises(RemoteError, match=r"compressed more than once \(Content-Encoding: gzip, gzip\)"):
        client.swap_sync({})
    assert scripted.seen[-1][2].get("Accept-Encoding") == "identity"


def test_a_huge_result_from_the_api_is_refused_naming_the_nodes_pixel_limit(scripted):
    """A 10000x10000 PNG answer is a few hundred KB but would be a 4.8 GB float32 IMAGE: refused before
    decoding, with the limit named."""
    from test_server_hardening import _grey_png

    from faceswap_v3.nodes.remote_swap import MAX_RESULT_PIXELS, SegmindRemoteSwap
    from faceswap_v3.pipeline.options import API_PARAMETERS, DEFAULTS

    huge = _grey_png(10_000, 10_000)
    assert len(huge) < 1_000_000
    scripted.script["/v1/faceswap-v3"] = [(200, {"Content-Type": "image/png"}, huge)]
    api = {name: DEFAULTS[name] for name in API_PARAMETERS}
    urls = {"source_url": f"{scripted.url}/s.jpg", "target_url": f"{scripted.url}/t.jpg"}  # passed on, not fetched
    with pytest.raises(BadInput, match=r"10000x10000 \(100 MP\); the limit is 40 MP") as refused:
        SegmindRemoteSwap().swap("sync", "upload", scripted.url, api_key="typed-key", **urls, **api)
    assert "MAX_RESULT_PIXELS" in str(refused.value) and MAX_RESULT_PIXELS == 40_000_000
