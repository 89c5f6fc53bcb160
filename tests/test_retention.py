"""Retention and privacy on a server with a data directory: a job's inputs (sent inline, fetched, or its
copies of uploads) are gone from every file once it ends, DELETE /v2/requests/{id} removes the result and
the row at once (only for the key that submitted the job), DELETE /assets/{name} an upload, and a full
run's log holds no image bytes."""

from __future__ import annotations

import base64
import io
import logging

import httpx
import numpy as np
from PIL import Image

from server_harness import b64, running
from test_server_guards import make_server, wait_finished

KEY = "retention-key-93"
HEADERS = {"x-api-key": KEY}


def noise_png(seed: int, image_format: str = "JPEG") -> bytes:
    """An image whose bytes are found nowhere else (random pixels do not compress); JPEG by default, so
    the stand-in engine's PNG result of it is other bytes."""
    out = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 56, 3), np.uint8)
    Image.fromarray(pixels).save(out, format=image_format)
    return out.getvalue()


def files_holding(data_dir, needle: bytes) -> list[str]:
    """Every file under data_dir that contains needle (a distinctive slice of an image's bytes)."""
    return sorted(p.name for p in data_dir.rglob("*") if p.is_file() and needle in p.read_bytes())


def body(source: bytes, target: bytes) -> dict:
    return {"source_img": b64(source), "target_img": b64(target), "image_format": "png", "face_restore_weight": 0,
            "facedetection": "scrfd_2.5g_bnkps.onnx"}


def test_inputs_go_when_the_job_ends_and_delete_removes_the_rest(swap_root, tmp_path):
    source, target = noise_png(1), noise_png(2)
    data_dir = tmp_path / "data"
    with running(make_server(swap_root, api_key=KEY, data_dir=data_dir)) as base:
        job = httpx.post(f"{base}/v2/faceswap-v3", json=body(source, target), headers=HEADERS).json()
        done = wait_finished(base, job["request_id"], headers=HEADERS)
        output = httpx.get(done.json()["output"], headers=HEADERS).content
        before = sorted(p.name for p in data_dir.rglob("*"))
        assert files_holding(data_dir, source[-200:]) == [] and files_holding(data_dir, target[-200:]) == []
        assert files_holding(data_dir, output[-200:]) != []  # the result is kept for its hour...

        deleted = httpx.delete(f"{base}/v2/requests/{job['request_id']}", headers=HEADERS)
        after = sorted(p.name for p in data_dir.rglob("*"))
        assert deleted.status_code == 200 and deleted.json()["status"] == "DELETED"
        assert files_holding(data_dir, output[-200:]) == []  # ...until DELETE
        assert httpx.get(f"{base}/v2/requests/{job['request_id']}", headers=HEADERS).status_code == 404
        assert httpx.get(done.json()["output"], headers=HEADERS).status_code == 404
        again = httpx.delete(f"{base}/v2/requests/{job['request_id']}", headers=HEADERS)
        unknown = httpx.delete(f"{base}/v2/requests/00000000-0000-0000-0000-000000000000", headers=HEADERS)
        keyless = httpx.delete(f"{base}/v2/requests/{job['request_id']}")
    print(f"\ndata dir before DELETE: {before}\ndata dir after DELETE: {after}")
    assert again.status_code == 404 and unknown.status_code == 404 and keyless.status_code == 401


def test_uploads_outlive_the_jobs_that_read_them_until_delete(swap_root, tmp_path):
    """A job's own copies of uploaded images go when it ends; the upload is the client's to reuse until its
    hour or DELETE /assets/{name}, which takes its bytes out of every file (tests/test_upload_assets.py has
    the hour)."""
    source, target = noise_png(3), noise_png(4)
    data_dir = tmp_path / "data"
    with running(make_server(swap_root, api_key=KEY, data_dir=data_dir)) as base:
        urls = httpx.post(f"{base}/upload-asset", headers=HEADERS, json={"data_urls": [
            "data:image/jpeg;base64," + b64(source), "data:image/jpeg;base64," + b64(target)]}).json()["file_urls"]
        job = httpx.post(f"{base}/v2/faceswap-v3", headers=HEADERS,
                         json={**body(source, target), "source_img": urls[0], "target_img": urls[1]}).json()
        assert wait_finished(base, job["request_id"], headers=HEADERS).json()["status"] == "COMPLETED"
        sync = httpx.post(f"{base}/v1/faceswap-v3", headers=HEADERS, json={**body(source, target),
                                                                            "source_img": urls[0]})
        assert sync.status_code == 200
        kept = [httpx.get(url, headers=HEADERS).status_code for url in urls]
        held = files_holding(data_dir, source[-200:])
        deleted = [httpx.delete(url, headers=HEADERS).status_code for url in urls]
        gone = [httpx.get(url, headers=HEADERS).status_code for url in urls]
    assert kept == [200, 200] and held == ["server.sqlite3"]  # one copy: the upload's, none of the jobs'
    assert deleted == [200, 200] and gone == [404, 404]
    assert files_holding(data_dir, source[-200:]) == [] and files_holding(data_dir, target[-200:]) == []


def test_a_job_of_another_key_cannot_be_deleted(swap_root, tmp_path):
    data_dir = tmp_path / "data"
    with running(make_server(swap_root, api_key=KEY, data_dir=data_dir)) as base:
        job = httpx.post(f"{base}/v2/faceswap-v3", json=body(noise_png(5), noise_png(6)), headers=HEADERS).json()
        wait_finished(base, job["request_id"], headers=HEADERS)
    new_key = {"x-api-key": "the-next-operator-key"}
    with running(make_server(swap_root, api_key=new_key["x-api-key"], data_dir=data_dir)) as base:  # restarted
        assert httpx.delete(f"{base}/v2/requests/{job['request_id']}", headers=new_key).status_code == 404
    with running(make_server(swap_root, api_key=KEY, data_dir=data_dir)) as base:
        assert httpx.delete(f"{base}/v2/requests/{job['request_id']}", headers=HEADERS).status_code == 200


def test_delete_needs_a_server_key_and_a_job_that_has_ended(swap_root, tmp_path):
    import threading

    from server_harness import stand_in_engine

    with running(make_server(swap_root, data_dir=tmp_path / "keyless")) as base:  # no key: nobody may delete
        job = httpx.post(f"{base}/v2/faceswap-v3", json=body(noise_png(7), noise_png(8))).json()
        wait_finished(base, job["request_id"])
        refused = httpx.delete(f"{base}/v2/requests/{job['request_id']}")
        assert refused.status_code == 403 and "--api-key-file" in refused.text
        assert httpx.get(f"{base}/v2/requests/{job['request_id']}").status_code == 200  # still there

    release = threading.Event()

    def held_engine(job):
        assert release.wait(30)
        return stand_in_engine(job)

    with running(make_server(swap_root, api_key=KEY, data_dir=tmp_path / "held", engine=held_engine)) as base:
        running_job, queued_job = (httpx.post(f"{base}/v2/faceswap-v3", json=body(noise_png(9 + i), noise_png(11 + i)),
                                              headers=HEADERS).json()["request_id"] for i in (0, 1))
        try:
            for request_id in (running_job, queued_job):
                busy = httpx.delete(f"{base}/v2/requests/{request_id}", headers=HEADERS)
                assert busy.status_code == 409 and "delete it once it has ended" in busy.text, busy.text
        finally:
            release.set()
        for request_id in (running_job, queued_job):
            wait_finished(base, request_id, headers=HEADERS)
            assert httpx.delete(f"{base}/v2/requests/{request_id}", headers=HEADERS).status_code == 200


def test_the_log_of_a_full_run_holds_no_image_bytes(swap_root, tmp_path, caplog):
    from faceswap_v3.pipeline.content_check import load_check
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.server.swap_request import run_job
    from support import FACES

    check = load_check("facefusion", ModelStore(models_root=swap_root, allow_download=False))
    source, target = (FACES / "portrait_female_02.jpg").read_bytes(), (FACES / "two_men.jpg").read_bytes()
    marker = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), (255, 0, 255), np.uint8)).save(marker, format="PNG")
    caplog.set_level(logging.DEBUG)
    server = make_server(swap_root, api_key=KEY, data_dir=tmp_path / "data", engine=run_job, content_check=check)
    with running(server) as base:
        ok = httpx.post(f"{base}/v1/faceswap-v3", json=body(source, target), headers=HEADERS, timeout=120)
        blocked = httpx.post(f"{base}/v1/faceswap-v3", json=body(source, marker.getvalue()), headers=HEADERS,
                             timeout=120)
        job = httpx.post(f"{base}/v2/faceswap-v3", json=body(source, target), headers=HEADERS).json()
        wait_finished(base, job["request_id"], headers=HEADERS, timeout_s=120)
        httpx.delete(f"{base}/v2/requests/{job['request_id']}", headers=HEADERS)
    assert ok.status_code == 200 and blocked.status_code == 422
    log = "\n".join(record.getMessage() for record in caplog.records)
    assert "blocked by" in log and "deleted on request" in log  # the run was logged...
    for data in (source, target, ok.content):  # ...without any image, raw or as base64
        for chunk in (data[100:140], base64.b64encode(data)[100:140]):
            assert chunk.decode("latin-1") not in log
    assert "embedding" not in log.lower()
    assert max(len(line) for line in log.splitlines()) < 1000  # no array or blob dumped either
