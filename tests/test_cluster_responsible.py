"""Content checks and provenance on the cluster backend, with real processes (redis-server, `serve
--redis`, a `worker --redis` running the real engine over stand-in models): a flagged target ends FAILED
with content_blocked and 422, a result carries the provenance marks and the worker's C2PA manifest, and
the result says per job whether a manifest was attached."""

from __future__ import annotations

import os
import time

import httpx
import pytest

pytest.importorskip("redis")
pytest.importorskip("arq")

from cluster_processes import REDIS_SERVER, Processes, redis_server  # noqa: E402
from c2pa_test_ca import write_test_signer  # noqa: E402
from server_harness import b64  # noqa: E402
from test_content_check_server import MARKER, PORTRAIT  # noqa: E402
from test_provenance import SOURCE, TARGET, assert_marked  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER) and os.environ.get("CI") != "true",
                                reason="redis-server is not installed (CI installs it: .ci/run)")


def swap_body(source: bytes, target: bytes) -> dict:
    return {"source_img": b64(source), "target_img": b64(target), "image_format": "png", "face_restore_weight": 0,
            "facedetection": "scrfd_2.5g_bnkps.onnx"}


def finished(api: str, request_id: str, timeout_s: float = 180) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{api}/v2/requests/{request_id}", timeout=10)
        if answer.json()["status"] in ("COMPLETED", "FAILED"):
            return answer
        time.sleep(0.1)
    raise AssertionError(f"job {request_id} did not finish")


def submit(api: str, source: bytes, target: bytes) -> str:
    answer = httpx.post(f"{api}/v2/faceswap-v3", json=swap_body(source, target), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["request_id"]


def test_a_cluster_worker_blocks_flagged_content_and_marks_and_signs_what_it_swaps(swap_root, tmp_path):
    pytest.importorskip("c2pa")
    from test_c2pa import assert_signed

    cert, key = write_test_signer(tmp_path / "signer")
    with redis_server() as url:
        processes = Processes()
        try:
            processes.worker(url, None, "--models-dir", str(swap_root), "--content-check", "facefusion",
                             "--c2pa-cert", str(cert), "--c2pa-key", str(key))
            _, api = processes.api(url, swap_root)
            blocked = finished(api, submit(api, PORTRAIT, MARKER))
            assert blocked.status_code == 422 and blocked.json()["reason"] == "content_blocked", blocked.text
            assert blocked.json()["error"].startswith("target_img was blocked by the content check")

            done = finished(api, submit(api, SOURCE.read_bytes(), TARGET.read_bytes()))
            assert done.status_code == 200 and done.json()["c2pa_manifest"] == "attached", done.text
            output = httpx.get(done.json()["output"], timeout=30)
            assert_marked(output.content, "PNG", "inswapper_128.onnx")
            assert_signed(output.content, "image/png")
        finally:
            processes.stop()
