"""Our Faceswap V3 server, a real process on loopback, driven by Segmind's own `segmind` client
(SegmindClient(base_url=...)) exactly as the hosted API's page shows. Stand-in swap models. The tests on
the `server` fixture run on both backends: one process (SQLite), and a cluster (a real redis-server, an
API process and a worker process with the real engine)."""

from __future__ import annotations

import base64
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from segmind import InferenceFailed, InferenceTimeout, SegmindClient
from segmind.exceptions import SegmindError

from server_harness import running, stand_in_engine
from support import FACES
from faceswap_v3.pipeline.runtime.images import decode_image, read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.server.app import FaceswapServer

KEY = "test-key-7f3a"


def b64(name: str) -> str:
    return base64.b64encode((FACES / name).read_bytes()).decode()


def payload(**changes) -> dict:
    # the page's payload, with images inline and the detector/restorer our test models provide
    return {
        "source_img": b64("portrait_female_02.jpg"),
        "target_img": b64("portrait_male_damon.jpg"),
        "input_faces_index": "0",
        "source_faces_index": "0",
        "face_restore": "codeformer-v0.1.0.pth",
        "interpolation": "Bilinear",
        "detection_face_order": "large-small",
        "facedetection": "scrfd_2.5g_bnkps.onnx",
        "detect_gender_input": "no",
        "detect_gender_source": "no",
        "face_restore_weight": 0,
        "image_format": "jpeg",
        "image_quality": 95,
        "base64": False,
        **changes,
    }


@pytest.fixture(scope="module", params=["local", "redis"])
def server(request, start_api_server, restorer_root):
    if request.param == "local":
        yield start_api_server(restorer_root, "--api-key", KEY, "--allow-private-urls")
        return
    pytest.importorskip("arq")
    from cluster_processes import REDIS_SERVER, Processes, redis_server

    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    with redis_server() as url:
        processes = Processes()
        try:
            processes.worker(url, None, "--models-dir", str(restorer_root))
            yield processes.api(url, restorer_root, "--api-key", KEY, "--allow-private-urls")[1]
        finally:
            processes.stop()


@pytest.fixture
def server_backend(server, request) -> str:
    return request.node.callspec.params["server"]


@pytest.fixture(scope="module")
def client(server):
    return SegmindClient(api_key=KEY, base_url=f"{server}/v1")


def test_run_sync_returns_image_bytes(client):
    response = client.run_sync("faceswap-v3", **payload())
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    swapped = decode_image(response.content)
    original = read_image_file(FACES / "portrait_male_damon.jpg")
    assert swapped.shape == original.shape
    assert np.abs(swapped.astype(int) - original).mean() > 0.5


def test_run_sync_base64_returns_json(client, server_backend):
    from faceswap_v3.pipeline.provenance.c2pa_manifest import NO_MANIFEST

    response = client.run_sync("faceswap-v3", **payload(base64=True, image_format="png"))
    data = base64.b64decode(response.json()["image"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # on a cluster the worker that ran the job says whether it signed (these workers have no certificate)
    assert response.json()["c2pa_manifest"] == NO_MANIFEST


def test_run_is_submit_and_poll_until_completed(client):
    result = client.run("faceswap-v3", **payload())
    assert result["status"] == "COMPLETED"
    assert result["metrics"]["inference_time"] > 0
    image = httpx.get(result["output"], headers={"x-api-key": KEY}).content
    assert decode_image(image).shape == (800, 600, 3)


def test_submit_async_and_wait(client, server):
    job = client.submit_async("faceswap-v3", **payload(image_format="webp"))
    assert job.request_id and job.status_url.startswith(server) and job.response_url.startswith(server)
    result = job.wait(timeout=60, interval=0.2)
    assert result["status"] == "COMPLETED" and result["output"].endswith(".webp")


def test_a_job_that_fails_raises_inference_failed_and_is_served_as_422(client):
    job = client.submit_async("faceswap-v3", **payload(source_img=b64("noface_landscape.jpg")))
    with pytest.raises(InferenceFailed) as info:
        job.wait(timeout=60, interval=0.2)
    assert info.value.detail.startswith("no face found in the source image")
    raw = httpx.get(job.response_url, headers={"x-api-key": KEY})
    assert raw.status_code == 422 and raw.json()["status"] == "FAILED"


def test_deadline_shorter_than_the_job_raises_inference_timeout(restorer_root):
    # An in-process server whose worker is held until the client's deadline has passed: however fast
    # the machine, the job cannot finish inside the 0.3 s.
    release = threading.Event()

    def held_engine(job):
        assert release.wait(60)
        return stand_in_engine(job)

    models = SwapModels(store=ModelStore(models_root=restorer_root, allow_download=False))
    with running(FaceswapServer(models=models, api_key=KEY, engine=held_engine)) as base:
        client = SegmindClient(api_key=KEY, base_url=f"{base}/v1")
        try:
            job = client.submit_async("faceswap-v3", **payload(face_restore="GFPGANv1.4.pth", face_restore_weight=0.75))
            with pytest.raises(InferenceTimeout) as info:
                job.wait(timeout=0.3, interval=0.1)
        finally:
            release.set()
        assert info.value.request_id == job.request_id
        assert job.wait(timeout=120, interval=0.5)["status"] == "COMPLETED"


@pytest.mark.parametrize("changes, reason", [
    ({"image_quality": 5}, "image_quality must be a whole number from 10 to 100, got 5"),
    ({"face_restore_weight": 2}, "face_restore_weight must be a number from 0 to 1, got 2"),
    ({"detection_face_order": "biggest"}, "detection_face_order: 'biggest' is not one of the allowed values"),
    ({"input_faces_index": "1.5"}, "input_faces_index: '1.5' is not a face index"),
    ({"source_img": ""}, "source_img is required: an image URL or base64 image data"),
    ({"target_img": "bm90IGFuIGltYWdl"}, "target_img is not an image in a format this API takes"),
    ({"target_img": "%%% not base64 %%%"}, "target_img is neither an http(s) URL nor valid base64 image data"),
    ({"source_img": "http://no-such-host.invalid/face.jpg"}, "could not fetch http://no-such-host.invalid/face.jpg"),
    ({"colour": "red"}, "unknown parameter(s): colour"),
])
def test_bad_parameters_are_400_with_the_reason(client, changes, reason):
    with pytest.raises(SegmindError) as info:
        client.run_sync("faceswap-v3", **payload(**changes))
    assert info.value.status == 400
    assert info.value.detail.startswith(reason), info.value.detail


def test_oversized_body_is_400_and_the_server_keeps_serving(client, server):
    huge = "A" * (41 * 1024 * 1024)
    response = httpx.post(f"{server}/v1/faceswap-v3", headers={"x-api-key": KEY},
                          json=payload(target_img=huge), timeout=60)
    assert response.status_code == 400
    assert "request body is larger than" in response.json()["error"]
    assert client.run_sync("faceswap-v3", **payload()).status_code == 200


def test_missing_or_wrong_key_is_401(server):
    for key in (None, "wrong"):
        with pytest.raises(SegmindError) as info:
            SegmindClient(api_key=key, base_url=f"{server}/v1").run_sync("faceswap-v3", **payload())
        assert info.value.status == 401
    assert KEY not in str(info.value)


def test_unknown_request_id_is_404(server):
    for path in ("/v2/requests/nope/status", "/v2/requests/nope", "/v2/outputs/nope.png"):
        response = httpx.get(server + path, headers={"x-api-key": KEY})
        assert response.status_code == 404 and "unknown" in response.json()["error"]


def test_full_queue_answers_429(start_api_server, restorer_root):
    server = start_api_server(restorer_root, "--max-jobs", "1")
    client = SegmindClient(base_url=f"{server}/v1")
    slow = client.submit_async("faceswap-v3", **payload(face_restore="GFPGANv1.4.pth", face_restore_weight=0.75))
    with pytest.raises(SegmindError) as info:
        client.submit_async("faceswap-v3", **payload())
    assert info.value.status == 429 and "queue is full" in info.value.detail
    assert slow.wait(timeout=120, interval=0.5)["status"] == "COMPLETED"
    assert client.submit_async("faceswap-v3", **payload()).wait(timeout=60, interval=0.2)["status"] == "COMPLETED"


def marked_target(i: int) -> str:
    """The damon portrait, shrunk, with a colour block in the corner that identifies submission i."""
    img = Image.open(FACES / "portrait_male_damon.jpg").convert("RGB").resize((300, 400))
    pixels = np.asarray(img).copy()
    pixels[:12, :12] = (i * 5, 255 - i * 5, 100)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_fifty_concurrent_async_submissions_none_lost_none_duplicated(client):
    def submit_and_wait(i: int):
        job = client.submit_async("faceswap-v3", **payload(target_img=marked_target(i), image_format="png"))
        return i, job.request_id, job.wait(timeout=300, interval=0.25)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(submit_and_wait, range(50)))
    assert len({request_id for _, request_id, _ in results}) == 50
    for i, _, result in results:
        assert result["status"] == "COMPLETED"
        pixels = decode_image(httpx.get(result["output"], headers={"x-api-key": KEY}).content)
        assert tuple(pixels[5, 5]) == (i * 5, 255 - i * 5, 100)


def test_the_pages_second_snippet_with_image_urls(client, http_server):
    """The hosted API page's manual submit-and-poll snippet, unchanged but for base_url and the
    image URLs (served here by a loopback server that our server fetches from)."""
    for name in ("portrait_female_02.jpg", "portrait_male_damon.jpg"):
        http_server.routes[f"/{name}"] = (200, {"Content-Type": "image/jpeg"}, (FACES / name).read_bytes())
    job = client.submit_async("faceswap-v3", **payload(source_img=f"{http_server.url}/portrait_female_02.jpg",
                                                       target_img=f"{http_server.url}/portrait_male_damon.jpg"))
    assert job.request_id
    outcome = None
    try:
        result = job.wait(timeout=600, interval=1.0)
        outcome = result["status"]
    except InferenceTimeout as e:
        outcome = f"still running: {e.request_id}"
    except InferenceFailed as e:
        outcome = f"failed: {e.detail}"
    assert outcome == "COMPLETED"
    assert decode_image(httpx.get(result["output"], headers={"x-api-key": KEY}).content).shape == (800, 600, 3)
