"""Signed C2PA manifests (c2pa-python, with a local test CA): the server's and the CLI's results validate
(c2pa.Reader: Valid, the only status the untrusted test CA), with c2pa.opened then c2pa.edited
compositeWithTrainedAlgorithmicMedia, and keep the XMP marks; without a certificate the result says no
manifest is attached; a bad certificate or key stops the server naming which."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from c2pa_test_ca import write_test_signer
from server_harness import b64
from test_provenance import SOURCE, TARGET, TRAINED_COMPOSITE, assert_marked

if os.environ.get("CI") != "true":
    pytest.importorskip("c2pa")


@pytest.fixture(scope="module")
def signer_files(tmp_path_factory):
    return write_test_signer(tmp_path_factory.mktemp("c2pa"))


def assert_signed(data: bytes, mime: str) -> None:
    import c2pa

    reader = c2pa.Reader(mime, io.BytesIO(data))
    report = json.loads(reader.json())
    assert reader.get_validation_state() == "Valid"
    assert [s["code"] for s in report.get("validation_status", [])] == ["signingCredential.untrusted"]
    active = report["manifests"][report["active_manifest"]]
    actions = [(a["action"], a.get("digitalSourceType")) for assertion in active["assertions"]
               if assertion["label"].startswith("c2pa.actions") for a in assertion["data"]["actions"]]
    assert actions == [("c2pa.opened", None), ("c2pa.edited", TRAINED_COMPOSITE)]
    assert [i["relationship"] for i in active["ingredients"]] == ["parentOf"]
    reader.close()


@pytest.mark.parametrize("image_format, pil_format", [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_the_servers_signed_results_validate_and_keep_the_marks(start_api_server, swap_root, signer_files,
                                                                 image_format, pil_format):
    cert, key = signer_files
    server = start_api_server(swap_root, "--c2pa-cert", str(cert), "--c2pa-key", str(key))
    body = {"source_img": b64(SOURCE.read_bytes()), "target_img": b64(TARGET.read_bytes()),
            "image_format": image_format, "face_restore_weight": 0, "facedetection": "scrfd_2.5g_bnkps.onnx"}
    answer = httpx.post(f"{server}/v1/faceswap-v3", json=body, timeout=120)
    assert answer.status_code == 200 and answer.headers["x-c2pa-manifest"] == "attached"
    assert_signed(answer.content, answer.headers["content-type"])
    assert_marked(answer.content, pil_format, "inswapper_128.onnx")


def test_the_clis_signed_result_validates(swap_root, signer_files, tmp_path):
    cert, key = signer_files
    out = tmp_path / "out.jpg"
    result = subprocess.run([sys.executable, "-m", "faceswap_v3", "swap", "--models-dir", str(swap_root),
                             "--source", str(SOURCE), "--target", str(TARGET), "-o", str(out),
                             "--face-restore-weight", "0", "--facedetection", "scrfd_2.5g_bnkps.onnx",
                             "--c2pa-cert", str(cert), "--c2pa-key", str(key)], capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr
    assert_signed(out.read_bytes(), "image/jpeg")


def test_without_a_certificate_the_result_says_no_manifest_is_attached(start_api_server, swap_root):
    server = start_api_server(swap_root)
    body = {"source_img": b64(SOURCE.read_bytes()), "target_img": b64(TARGET.read_bytes()),
            "image_format": "png", "face_restore_weight": 0, "facedetection": "scrfd_2.5g_bnkps.onnx"}
    sync = httpx.post(f"{server}/v1/faceswap-v3", json=body, timeout=120)
    job = httpx.post(f"{server}/v2/faceswap-v3", json=body).json()
    for _ in range(1200):
        done = httpx.get(job["response_url"])
        if done.json()["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert sync.headers["x-c2pa-manifest"].startswith("no C2PA manifest attached")
    assert done.json()["c2pa_manifest"].startswith("no C2PA manifest attached")


def refused(swap_root, tmp_path, cert, key) -> str:
    result = subprocess.run([sys.executable, "-m", "faceswap_v3", "serve", "--port", "0", "--models-dir",
                             str(swap_root), "--data-dir", str(tmp_path / "data"), "--no-content-check",
                             "--c2pa-cert", str(cert), "--c2pa-key", str(key)],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "FACESWAP_V3_OFFLINE": "1"})
    assert result.returncode == 2 and "serving" not in result.stdout
    return result.stderr.strip().splitlines()[-1]


def test_a_bad_certificate_or_key_stops_the_server_naming_which(swap_root, signer_files, tmp_path):
    cert, key = signer_files
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    other_cert, _ = write_test_signer(tmp_path / "other")
    assert "signing certificate" in refused(swap_root, tmp_path, garbage, key) and "garbage.pem" in refused(
        swap_root, tmp_path, garbage, key)
    assert "signing key" in refused(swap_root, tmp_path, cert, garbage)
    assert "does not belong to the certificate" in refused(swap_root, tmp_path, other_cert, key)
