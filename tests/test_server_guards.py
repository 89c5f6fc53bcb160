"""The server's guards, on an in-process server (real loopback socket, real HTTP; where the `serve` fixture is
used, on both backends: one process, and the Redis cluster with a worker thread) with a fast stand-in
engine where the swap itself is not the point: model names, browser-borne requests, auth, assets,
limits and 429s, result storage and expiry, and every malformed request a 400 or a FAILED job."""

from __future__ import annotations

import base64
import struct
import threading
import time

import httpx
import pytest

from server_harness import Gate, b64, image_host, make_server, payload, png_bytes, running
from support import FACES
from faceswap_v3.pipeline.errors import BadInput, ModelUnavailable
from faceswap_v3.server.admission import ServerLimits
from faceswap_v3.net.url_guard import ANY_ADDRESS

KEY = "guard-key-51c0"
PNG = png_bytes()


def wait_finished(base: str, request_id: str, headers=None, timeout_s: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/v2/requests/{request_id}", headers=headers)
        if answer.json()["status"] in ("COMPLETED", "FAILED"):
            return answer
        time.sleep(0.02)
    raise AssertionError(f"job {request_id} did not finish")


# --- model names, never paths ----------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [
    ("facedetection", "{root}/facedetection/det_500m.onnx"), ("facedetection", "../../facedetection/det_500m.onnx"),
    ("facedetection", "facedetection/det_500m.onnx"), ("facedetection", "./det_500m.onnx"),
    ("facedetection", "/etc/passwd.onnx"), ("face_restore", "{root}/facerestore_models/GFPGANv1.4.pth"),
    ("face_restore", "../facerestore_models/GFPGANv1.4.pth"), ("face_restore", "C:\\models\\GFPGANv1.4.pth"),
])
def test_a_model_path_is_refused_without_echoing_it(serve, restorer_root, name, value):
    value = value.format(root=restorer_root)
    with serve(restorer_root) as base:
        answer = httpx.post(f"{base}/v1/faceswap-v3", json=payload(**{name: value, "face_restore_weight": 0.5}))
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert message.endswith("paths are not accepted")
    assert value not in message and str(restorer_root) not in message and "det_500m" not in message


def test_bare_model_names_in_the_models_folders_are_accepted_and_others_refused(serve, restorer_root):
    with serve(restorer_root) as base:
        ok = httpx.post(f"{base}/v1/faceswap-v3", json=payload(facedetection="det_500m.onnx"))
        missing = httpx.post(f"{base}/v1/faceswap-v3", json=payload(face_restore="nothere.pth"))
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    assert missing.status_code == 400
    assert missing.json()["error"] == ("face_restore: 'nothere.pth' is not one of codeformer-v0.1.0.pth, "
                                       "GFPGANv1.4.pth, GFPGANv1.3.pth, nor a model file in this server's "
                                       "facerestore_models folder")
    assert str(restorer_root) not in missing.text


def test_a_missing_model_is_our_fault_and_names_no_server_path(serve, swap_root, tmp_path):
    def engine(job):
        raise ModelUnavailable(f"model file codeformer-v0.1.0.pth not found (looked in: {tmp_path}/models)")

    with serve(swap_root, engine=engine) as base:
        sync = httpx.post(f"{base}/v1/faceswap-v3", json=payload())
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()
        failed = wait_finished(base, job["request_id"])
    assert sync.status_code == 500 and failed.status_code == 422
    for text in (sync.text, failed.text):
        assert "missing on this server" in text and str(tmp_path) not in text


# --- browser-borne requests, auth ------------------------------------------------------------------
def test_only_json_posts_from_no_or_our_own_origin_and_urls_never_from_host(serve, swap_root):
    import json

    with serve(swap_root) as base:
        body = json.dumps(payload())
        plain = httpx.post(f"{base}/v2/faceswap-v3", content=body, headers={"Content-Type": "text/plain"})
        form = httpx.post(f"{base}/upload-asset", data={"data_urls": "x"})
        foreign = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers={"Origin": "https://evil.example"})
        null = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers={"Origin": "null"})
        own = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers={"Origin": base})
        spoofed = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers={"Host": "evil.example"})
        port = base.rsplit(":", 1)[1]
        by_name = httpx.post(f"http://localhost:{port}/v2/faceswap-v3", json=payload())
    assert plain.status_code == 400 and "Content-Type: application/json" in plain.json()["error"]
    assert form.status_code == 400
    assert foreign.status_code == 403 and null.status_code == 403 and "cross-origin" in foreign.json()["error"]
    assert own.status_code == 200
    assert spoofed.status_code == 200 and spoofed.json()["status_url"].startswith(base + "/v2/requests/")
    assert "evil" not in spoofed.text
    assert by_name.json()["status_url"].startswith(f"http://localhost:{port}/v2/requests/")


def test_public_url_builds_the_absolute_urls(serve, swap_root):
    with serve(swap_root, public_url="https://faceswap.example.org/") as base:
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()
        result = wait_finished(base, job["request_id"]).json()
        own_origin = httpx.post(f"{base}/v2/faceswap-v3", json=payload(),
                                headers={"Origin": "https://faceswap.example.org"})
    assert job["response_url"] == f"https://faceswap.example.org/v2/requests/{job['request_id']}"
    assert result["output"] == f"https://faceswap.example.org/v2/outputs/{job['request_id']}.png"
    assert own_origin.status_code == 200


def test_outputs_and_assets_need_the_key_when_one_is_set(serve, swap_root):
    key = {"x-api-key": KEY}
    with serve(swap_root, api_key=KEY) as base:
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers=key).json()
        output = wait_finished(base, job["request_id"], key).json()["output"]
        upload = httpx.post(f"{base}/upload-asset", json={"data_urls": ["data:image/png;base64," + b64(PNG)]},
                            headers=key).json()["file_urls"][0]
        answers = {url: (httpx.get(url).status_code, httpx.get(url, headers={"x-api-key": "wrong"}).status_code,
                         httpx.get(url, headers=key).status_code) for url in (output, upload)}
        unkeyed_upload = httpx.post(f"{base}/upload-asset", json={"data_urls": ["data:image/png;base64," + b64(PNG)]})
    assert answers == {output: (401, 401, 200), upload: (401, 401, 200)}
    assert unkeyed_upload.status_code == 401


# --- assets --------------------------------------------------------------------------------------
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


@pytest.mark.parametrize("data_url", [
    "data:image/svg+xml;base64," + b64(SVG), "data:image/png;base64," + b64(SVG),
    "data:text/html;base64," + b64(b"<html><script>alert(1)</script></html>"),
    "data:image/png;base64," + b64(png_bytes()[:60]), "data:image/gif;base64," + b64(b"GIF89a\x01\x00\x01\x00"),
])
def test_an_svg_or_anything_but_a_decodable_png_jpeg_webp_upload_is_refused(swap_root, data_url):
    server = make_server(swap_root)
    with running(server) as base:
        answer = httpx.post(f"{base}/upload-asset", json={"data_urls": [data_url]})
        stored = server.backend.database.one("SELECT COUNT(*) FROM assets")[0]
    assert answer.status_code == 400 and stored == 0


def test_uploads_are_served_as_their_real_type_with_nosniff_and_csp_and_expire(swap_root):
    now = [1000.0]
    server = make_server(swap_root, clock=lambda: now[0])
    jpeg = (FACES / "portrait_male_02.jpg").read_bytes()
    with running(server) as base:
        # claimed as PNG, really a JPEG: served as what it is
        url = httpx.post(f"{base}/upload-asset", json={"data_urls": ["data:image/png;base64," + b64(jpeg)]}
                         ).json()["file_urls"][0]
        served = httpx.get(url)
        now[0] += 3601
        expired = httpx.get(url)
    assert url.startswith(base + "/assets/") and url.endswith(".jpg")
    assert served.content == jpeg and served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert expired.status_code == 404


def test_the_asset_count_is_capped_with_a_429_and_retry_after(swap_root):
    server = make_server(swap_root)
    server.assets.max_count = 2
    upload = {"data_urls": ["data:image/png;base64," + b64(PNG)]}
    with running(server) as base:
        answers = [httpx.post(f"{base}/upload-asset", json=upload) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"] == "60" and "asset storage is full" in answers[2].json()["error"]


def test_an_uploaded_asset_is_used_by_url_without_a_network_fetch(serve, swap_root):
    jpeg = (FACES / "portrait_male_02.jpg").read_bytes()
    with serve(swap_root) as base:  # public addresses only: a fetch of its own URL would fail
        url = httpx.post(f"{base}/upload-asset", json={"data_urls": ["data:image/jpeg;base64," + b64(jpeg)]}
                         ).json()["file_urls"][0]
        answer = httpx.post(f"{base}/v1/faceswap-v3", json=payload(target_img=url))
        gone = httpx.post(f"{base}/v1/faceswap-v3", json=payload(target_img=f"{base}/assets/{'0' * 32}.png"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert gone.status_code == 400 and "unknown or has expired" in gone.json()["error"]


# --- limits and 429 ------------------------------------------------------------------------------
def test_a_full_queue_is_429_with_retry_after_and_frees_up(serve, swap_root):
    gate = Gate()
    with serve(swap_root, engine=gate, max_jobs=1) as base:
        first = httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()
        assert gate.entered.wait(10)
        refused = httpx.post(f"{base}/v2/faceswap-v3", json=payload())
        gate.open.set()
        assert wait_finished(base, first["request_id"]).json()["status"] == "COMPLETED"
        again = httpx.post(f"{base}/v2/faceswap-v3", json=payload())
    assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
    counted = {"local": "", "redis": " across the cluster"}[serve.backend]
    assert f"the queue is full (1 jobs{counted}); retry later" in refused.json()["error"]
    assert again.status_code == 200


def test_the_pixels_held_by_queued_jobs_are_capped(serve, swap_root):
    gate = Gate()
    big = png_bytes(1000, 1000)  # two of them: 2 MP a job
    limits = ServerLimits(max_queued_pixels=3_000_000)
    with serve(swap_root, engine=gate, limits=limits) as base:
        first = httpx.post(f"{base}/v2/faceswap-v3", json=payload(source_img=b64(big), target_img=b64(big)))
        assert gate.entered.wait(10)
        second = httpx.post(f"{base}/v2/faceswap-v3", json=payload(source_img=b64(big), target_img=b64(big)))
        small = httpx.post(f"{base}/v2/faceswap-v3", json=payload())
        gate.open.set()
        assert wait_finished(base, first.json()["request_id"]).json()["status"] == "COMPLETED"
        later = httpx.post(f"{base}/v2/faceswap-v3", json=payload(source_img=b64(big), target_img=b64(big)))
    assert first.status_code == 200 and small.status_code == 200 and later.status_code == 200
    assert second.status_code == 429 and second.headers["retry-after"] == "5"
    assert "MP of images" in second.json()["error"]


def test_a_slow_url_stops_at_its_total_deadline_and_never_delays_base64_requests(swap_root):
    hung_up = threading.Event()

    def trickle(handler):  # one byte every 50 ms, forever: no single read ever times out
        try:
            while True:
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            hung_up.set()  # the server closed the download

    limits = ServerLimits(fetch_timeout_s=1.5)
    with image_host("127.0.0.1", {"/slow.png": (200, {"Content-Type": "image/png"}, trickle)}) as host, \
            running(make_server(swap_root, limits=limits, url_policy=ANY_ADDRESS)) as base:
        slow: dict = {}

        def submit_slow():
            started = time.monotonic()
            slow["answer"] = httpx.post(f"{base}/v1/faceswap-v3", json=payload(source_img=f"{host}/slow.png"),
                                        timeout=30)
            slow["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=submit_slow)
        thread.start()
        time.sleep(0.2)
        quick = [httpx.post(f"{base}/v1/faceswap-v3", json=payload()) for _ in range(3)]
        still_fetching = thread.is_alive() and not hung_up.is_set()
        thread.join(30)
        server_hung_up = hung_up.wait(10)
    # the base64 requests were answered while the slow download was still going (an ordering, not a duration)
    assert [q.status_code for q in quick] == [200, 200, 200] and still_fetching
    # the whole-download deadline ended it (a byte every 50 ms never trips a per-read timeout), not before 1.5 s
    # (a lower bound, which load can only lengthen), and the server hung up on the trickling host
    assert slow["answer"].status_code == 400
    assert "no complete answer within 1.5 s (the limit for a whole download)" in slow["answer"].json()["error"]
    assert slow["seconds"] >= 1.4 and server_hung_up


# --- results: stored only when fetchable, expired on a timer, bounded -------------------------------
def test_v1_results_are_never_stored_and_v2_results_expire_on_a_timer_without_any_request(swap_root):
    now = [1000.0]
    server = make_server(swap_root, clock=lambda: now[0], sweep_interval_s=0.05)
    with running(server) as base:
        for _ in range(5):
            assert httpx.post(f"{base}/v1/faceswap-v3", json=payload()).status_code == 200
        assert server.backend.jobs.count() == 0
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()
        wait_finished(base, job["request_id"])
        assert server.backend.jobs.count() == 1
        now[0] += 3601
        deadline = time.monotonic() + 10
        while server.backend.jobs.count() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.backend.jobs.count() == 0


def test_the_number_of_stored_results_is_bounded_oldest_first(swap_root):
    server = make_server(swap_root, max_results=3)
    with running(server) as base:
        ids = []
        for _ in range(5):
            ids.append(httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()["request_id"])
            wait_finished(base, ids[-1])
        kept = [httpx.get(f"{base}/v2/requests/{i}/status").status_code for i in ids]
        assert server.backend.jobs.count() == 3
    assert kept == [404, 404, 200, 200, 200]


# --- every accepted job ends; every malformed request is a 400 or a FAILED job ---------------------
@pytest.mark.parametrize("raised, status, text", [
    (RuntimeError("cuda exploded at /opt/secret/lib.so"), 500, "internal error; see the server log"),
    (MemoryError(), 500, "internal error; see the server log"),
    (BadInput("target_img: the file /srv/secret/x.png is odd"), 400, "target_img: the file <server path> is odd"),
])
def test_every_accepted_job_ends_whatever_the_engine_raises(serve, swap_root, raised, status, text):
    def engine(job):
        raise raised

    with serve(swap_root, engine=engine, max_jobs=2) as base:
        sync = [httpx.post(f"{base}/v1/faceswap-v3", json=payload()) for _ in range(3)]
        jobs = [httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()["request_id"] for _ in range(3)]
        failed = [wait_finished(base, j) for j in jobs]
    assert [(s.status_code, s.json()["error"]) for s in sync] == [(status, text)] * 3
    assert [(f.status_code, f.json()["status"], f.json()["error"]) for f in failed] == [(422, "FAILED", text)] * 3


def dds_with_unknown_pixel_format() -> bytes:
    """A DDS header PIL's DDS plugin answers with NotImplementedError."""
    header = struct.pack("<7I", 124, 0x1007, 4, 4, 16, 0, 0) + bytes(44) + struct.pack("<2I", 32, 0)
    return b"DDS " + header + bytes(104)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\nshowpage\n"
MALFORMED_FIELDS = [
    {"facedetection": None}, {"interpolation": None}, {"image_format": None}, {"detection_face_order": None},
    {"detect_gender_input": 3}, {"face_restore": None}, {"input_faces_index": None}, {"input_faces_index": 0},
    {"input_faces_index": "9" * 5000}, {"source_faces_index": "1" + "0" * 4999}, {"input_faces_index": "0,0"},
    {"input_faces_index": ",".join(map(str, range(65)))}, {"face_restore_weight": "0.5"},
    {"face_restore_weight": float("nan")}, {"image_quality": 50.5}, {"image_quality": True}, {"base64": "yes"},
    {"source_img": None}, {"source_img": 5}, {"source_img": ["x"]}, {"source_img": "   "},
    {"source_img": "http://a..b/x.jpg"}, {"source_img": "http://[::1"}, {"source_img": "http://ex\x00ample.com/x.jpg"},
    {"source_img": "http://example.com:99999/x.jpg"}, {"source_img": "http://127.0.0.1/a\x00b.jpg"},
    {"source_img": "ftp://example.com/x.jpg"},
    {"source_img": "file:///etc/passwd"}, {"source_img": "http://user:pw@127.0.0.1/x.jpg"},
    {"source_img": "http://127.0.0.1:1/x.jpg"}, {"source_img": "http://169.254.169.254/latest/meta-data/"},
    {"source_img": b64(dds_with_unknown_pixel_format())}, {"source_img": b64(EPS)}, {"source_img": b64(SVG)},
    {"target_img": "%%% not base64 %%%"}, {"target_img": "data:image/png;base64,"}, {"target_img": b64(b"GIF8")},
    {"target_img": b64(PNG[: len(PNG) // 2])}, {"colour": "red"},
]


def test_red_team_every_malformed_request_is_a_400_or_a_failed_job_never_a_500(serve, swap_root):
    import json

    bodies = [json.dumps(payload(**fields), allow_nan=True).encode() for fields in MALFORMED_FIELDS]
    bodies += [b"", b"[]", b"null", b"{", b"\xff\xfe{}", b"[" * 100_000, b'{"image_quality": ' + b"9" * 5000 + b"}",
               json.dumps({"data": "x"}).encode()]
    outcomes = []
    with serve(swap_root, max_jobs=3) as base:
        for body in bodies:
            for version in ("v1", "v2"):
                answer = httpx.post(f"{base}/{version}/faceswap-v3", content=body,
                                    headers={"Content-Type": "application/json"})
                if version == "v2" and answer.status_code == 200:
                    answer = wait_finished(base, answer.json()["request_id"])
                outcomes.append((version, body[:60], answer.status_code, answer.json().get("error", "")))
        # none of that took a place in the queue for good
        valid = [httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json() for _ in range(3)]
        finished = [wait_finished(base, v["request_id"]).json()["status"] for v in valid]
    wrong = [o for o in outcomes if o[2] not in (400, 422)]
    assert not wrong, wrong
    assert all(o[3] and "internal error" not in o[3] for o in outcomes)
    assert not [o for o in outcomes if "file" in o[3]]  # base64 and URL inputs are not files
    assert finished == ["COMPLETED"] * 3
    assert len(outcomes) == 2 * len(bodies)


def test_base64_with_line_breaks_and_without_padding_is_accepted(serve, swap_root):
    text = base64.encodebytes((FACES / "portrait_male_02.jpg").read_bytes()).decode().rstrip("=\n")
    with serve(swap_root) as base:
        answer = httpx.post(f"{base}/v1/faceswap-v3", json=payload(target_img=text))
    assert answer.status_code == 200
