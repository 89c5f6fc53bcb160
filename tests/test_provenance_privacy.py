"""A C2PA-signed result carries no picture of its inputs: no thumbnail of the original target (nor of the
result) in the manifest, unless the operator opts in with FACESWAP_V3_C2PA_THUMBNAILS=1; the manifest still
names the target as its parent ingredient and validates."""

from __future__ import annotations

import io
import json
import os

import httpx
import numpy as np
import pytest

from c2pa_test_ca import write_test_signer
from server_harness import b64
from test_provenance import SOURCE, TARGET
from faceswap_v3.pipeline.provenance.c2pa_manifest import ENV_THUMBNAILS, C2paSigner
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.runtime.images import encode_image
from faceswap_v3.pipeline.provenance.marks import encode_marked, software

if os.environ.get("CI") != "true":
    pytest.importorskip("c2pa")

JPEG_START = b"\xff\xd8\xff\xe0\x00\x10JFIF"  # how a JFIF JPEG begins, the thumbnails c2pa embeds too


@pytest.fixture(scope="module")
def signer_files(tmp_path_factory):
    return write_test_signer(tmp_path_factory.mktemp("c2pa"))


def manifest(data: bytes, mime: str = "image/png") -> dict:
    import c2pa

    reader = c2pa.Reader(mime, io.BytesIO(data))
    try:
        assert reader.get_validation_state() == "Valid"
        report = json.loads(reader.json())
    finally:
        reader.close()
    return report["manifests"][report["active_manifest"]]


def small_result() -> bytes:
    return encode_marked(np.full((16, 16, 3), (40, 90, 200), np.uint8), "png", 95, software("inswapper_128.onnx"))


def test_a_signed_result_embeds_no_thumbnail_of_its_target(signer_files, monkeypatch):
    monkeypatch.delenv(ENV_THUMBNAILS, raising=False)
    target = TARGET.read_bytes()
    result = small_result()
    signed = C2paSigner(*signer_files).sign_result(result, "png", target, None)
    active = manifest(signed)
    assert [i["relationship"] for i in active["ingredients"]] == ["parentOf"]
    assert "thumbnail" not in active and all("thumbnail" not in i for i in active["ingredients"])
    assert JPEG_START not in signed  # no picture of the JPEG target (or any JPEG) inside the PNG
    assert len(signed) < len(result) + 16_000  # the manifest and its signature, not a picture


def test_the_operator_may_opt_in_to_thumbnails(signer_files, monkeypatch):
    monkeypatch.setenv(ENV_THUMBNAILS, "1")
    signed = C2paSigner(*signer_files).sign_result(small_result(), "png", TARGET.read_bytes(), None)
    active = manifest(signed)
    assert active["ingredients"][0]["thumbnail"]["format"] == "image/jpeg" and JPEG_START in signed
    assert C2paSigner(*signer_files, thumbnails=False).thumbnails is False  # the argument wins over the setting


@pytest.mark.parametrize("value, wanted", [("", False), ("0", False), ("no", False), (" TRUE ", True), ("yes", True)])
def test_the_thumbnail_setting_reads_like_the_other_switches(signer_files, monkeypatch, value, wanted):
    monkeypatch.setenv(ENV_THUMBNAILS, value)
    assert C2paSigner(*signer_files).thumbnails is wanted


def test_a_typo_in_the_thumbnail_setting_stops_the_signer_naming_it(signer_files, monkeypatch):
    monkeypatch.setenv(ENV_THUMBNAILS, "on please")
    with pytest.raises(BadInput, match=rf"^{ENV_THUMBNAILS} must be 1 .* got 'on please'$"):
        C2paSigner(*signer_files)


def test_the_servers_signed_result_carries_no_input_thumbnail(start_api_server, swap_root, signer_files):
    cert, key = signer_files
    server = start_api_server(swap_root, "--c2pa-cert", str(cert), "--c2pa-key", str(key))
    body = {"source_img": b64(SOURCE.read_bytes()), "target_img": b64(TARGET.read_bytes()), "image_format": "png",
            "face_restore_weight": 0, "facedetection": "scrfd_2.5g_bnkps.onnx"}
    answer = httpx.post(f"{server}/v1/faceswap-v3", json=body, timeout=120)
    assert answer.status_code == 200 and answer.headers["x-c2pa-manifest"] == "attached"
    active = manifest(answer.content)
    assert "thumbnail" not in active and all("thumbnail" not in i for i in active["ingredients"])
    assert JPEG_START not in answer.content


def test_the_clis_signer_call_embeds_no_thumbnail_either(signer_files, monkeypatch):
    """The CLI signs with the target re-encoded as PNG (sign(), not sign_result())."""
    monkeypatch.delenv(ENV_THUMBNAILS, raising=False)
    from faceswap_v3.pipeline.runtime.images import read_image_file

    result = encode_image(np.full((16, 16, 3), 10, np.uint8), "jpeg")  # Pillow writes JFIF
    signed = C2paSigner(*signer_files).sign(result, "jpeg", encode_image(read_image_file(TARGET), "png"), "png")
    active = manifest(signed, "image/jpeg")
    assert "thumbnail" not in active and all("thumbnail" not in i for i in active["ingredients"])
    assert signed.count(JPEG_START) == 1  # the result itself, and no other picture
