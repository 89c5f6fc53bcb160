"""An upload (POST /upload-asset) is an asset with its own hour, on both backends: any number of jobs read
it, a job that ends takes only its own copies of its images with it, and the upload goes at its hour
(the server's clock) or on DELETE /assets/{name}. The hosted-API node relies on that: it uploads the
source once per batch and sends its URL with every frame."""

from __future__ import annotations

import httpx
import pytest
import torch

from server_harness import b64, payload, png_bytes
from support import FACES, named
from test_server_guards import wait_finished

KEY = "upload-assets-key-27"
HEADERS = {"x-api-key": KEY}
HOUR = 3600.0


@pytest.fixture
def no_segmind_key(monkeypatch, tmp_path):
    for name in ("SEGMIND_API_KEY", "SEGMIND_API_KEY_FILE", "SEGMIND_ALLOW_CUSTOM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/segmind/api_key either


def upload(base: str, *images: bytes, headers=None) -> list[str]:
    answer = httpx.post(f"{base}/upload-asset", headers=headers,
                        json={"data_urls": ["data:image/png;base64," + b64(image) for image in images]})
    assert answer.status_code == 200, answer.text
    return answer.json()["file_urls"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_hosted_node_swaps_a_3_frame_batch_on_our_server_with_upload_transport(serve, swap_root, mode,
                                                                                   no_segmind_key, monkeypatch):
    from faceswap_v3.nodes.all_in_one import FaceswapV3
    from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
    from faceswap_v3.nodes.tensors import frames_to_image
    from faceswap_v3.pipeline.runtime.images import read_image_file
    from faceswap_v3.server.swap_request import run_job

    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    target = frames_to_image([read_image_file(FACES / "couple_female_left_male_right.jpg")])
    batch = torch.cat([target, torch.flip(target, dims=[2]), torch.flip(target, dims=[1])])
    api = {"input_faces_index": "0", "source_faces_index": "0", "face_restore": "codeformer-v0.1.0.pth",
           "interpolation": "Bilinear", "detection_face_order": "left-right",
           "facedetection": "scrfd_2.5g_bnkps.onnx", "detect_gender_input": "no", "detect_gender_source": "no",
           "face_restore_weight": 0.0, "image_format": "png", "image_quality": 95}
    with serve(swap_root, engine=run_job) as base:
        outputs = named(SegmindRemoteSwap, SegmindRemoteSwap().swap(mode, "upload", base, source_img=source,
                                                                     target_img=batch, storage_url=base, **api,
                                                                     base64=False))
    local = FaceswapV3().swap(source, batch, **api)[0]
    assert outputs["info"].startswith(f"frames swapped by {base} ({mode}): 3")
    assert tuple(outputs["image"].shape) == tuple(batch.shape) and torch.equal(outputs["image"], local)
    changed = [not torch.equal(local[i], batch[i]) for i in range(3)]
    assert changed == [True, True, True]  # every frame was swapped, not passed through


def test_an_upload_serves_two_jobs_and_goes_at_its_hour(serve, swap_root):
    now = [10_000.0]
    with serve(swap_root, api_key=KEY, clock=lambda: now[0]) as base:
        source_url, target_url = upload(base, png_bytes(colour=(10, 200, 30)), png_bytes(colour=(90, 20, 160)),
                                        headers=HEADERS)
        reads = payload(source_img=source_url, target_img=target_url)
        first = httpx.post(f"{base}/v2/faceswap-v3", json=reads, headers=HEADERS).json()
        assert wait_finished(base, first["request_id"], headers=HEADERS).json()["status"] == "COMPLETED"
        sync = httpx.post(f"{base}/v1/faceswap-v3", json=reads, headers=HEADERS)
        assert sync.status_code == 200, sync.text
        now[0] += HOUR - 1  # the hour counts from the upload, not from the jobs that read it
        second = httpx.post(f"{base}/v2/faceswap-v3", json=reads, headers=HEADERS).json()
        assert wait_finished(base, second["request_id"], headers=HEADERS).json()["status"] == "COMPLETED"
        assert httpx.get(source_url, headers=HEADERS).status_code == 200
        now[0] += 2
        expired = httpx.post(f"{base}/v2/faceswap-v3", json=reads, headers=HEADERS)
        gone = [httpx.get(url, headers=HEADERS).status_code for url in (source_url, target_url)]
    assert gone == [404, 404]
    assert expired.status_code == 400 and "unknown or has expired" in expired.json()["error"]


def test_a_jobs_own_copies_of_its_images_go_when_it_ends_but_not_the_upload_local(swap_root):
    from server_harness import make_server, running

    server = make_server(swap_root, api_key=KEY)
    with running(server) as base:
        (source_url,) = upload(base, png_bytes(colour=(1, 2, 3)), headers=HEADERS)
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload(source_img=source_url), headers=HEADERS).json()
        assert wait_finished(base, job["request_id"], headers=HEADERS).json()["status"] == "COMPLETED"
        copies = server.backend.database.one("SELECT source, target FROM jobs WHERE request_id = ?", (job["request_id"],))
        kept = httpx.get(source_url, headers=HEADERS).status_code
    assert copies == (None, None) and kept == 200


def test_a_jobs_own_copies_of_its_images_go_when_it_ends_but_not_the_upload_redis(cluster_redis_url, swap_root):
    import redis

    from faceswap_v3.server.redis_store import input_key
    from server_harness import running_cluster

    with running_cluster(cluster_redis_url, swap_root, api_key=KEY) as base:
        (source_url,) = upload(base, png_bytes(colour=(1, 2, 3)), headers=HEADERS)
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload(source_img=source_url), headers=HEADERS).json()
        assert wait_finished(base, job["request_id"], headers=HEADERS).json()["status"] == "COMPLETED"
        client = redis.Redis.from_url(cluster_redis_url)
        copies = client.exists(input_key(job["request_id"]))
        client.close()
        kept = httpx.get(source_url, headers=HEADERS).status_code
    assert copies == 0 and kept == 200


def test_delete_removes_an_upload_at_once_and_needs_a_server_key(serve, swap_root):
    with serve(swap_root, api_key=KEY) as base:
        first, second = upload(base, png_bytes(colour=(5, 6, 7)), png_bytes(colour=(8, 9, 10)), headers=HEADERS)
        deleted = httpx.delete(first, headers=HEADERS)
        after = [httpx.get(url, headers=HEADERS).status_code for url in (first, second)]
        again = httpx.delete(first, headers=HEADERS)
        keyless = httpx.delete(second)
        read = httpx.post(f"{base}/v1/faceswap-v3", json=payload(source_img=first), headers=HEADERS)
    assert deleted.status_code == 200 and deleted.json()["status"] == "DELETED"
    assert after == [404, 200] and again.status_code == 404 and keyless.status_code == 401
    assert read.status_code == 400 and "unknown or has expired" in read.json()["error"]
    with serve(swap_root) as base:
        (url,) = upload(base, png_bytes())
        refused = httpx.delete(url)
        still = httpx.get(url).status_code
    assert refused.status_code == 403 and "--api-key-file" in refused.json()["error"] and still == 200
