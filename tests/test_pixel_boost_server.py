"""The server accepts pixel_boost as an optional extension of the API (a real process on loopback)."""

from __future__ import annotations

import base64

import httpx

from support import FACES
from faceswap_v3.pipeline.runtime.images import decode_image

KEY = "boost-key"


def body(**changes) -> dict:
    image = base64.b64encode((FACES / "portrait_male_damon.jpg").read_bytes()).decode()
    return {"source_img": image, "target_img": image, "facedetection": "scrfd_2.5g_bnkps.onnx",
            "face_restore_weight": 0, "image_format": "png", **changes}


def test_pixel_boost_is_accepted_and_validated(start_api_server, swap_root):
    server = start_api_server(swap_root, "--api-key", KEY)
    headers = {"x-api-key": KEY}
    with httpx.Client(timeout=120) as client:
        plain = client.post(f"{server}/v1/faceswap-v3", json=body(), headers=headers)
        boosted = client.post(f"{server}/v1/faceswap-v3", json=body(pixel_boost="512x512"), headers=headers)
        bad = client.post(f"{server}/v1/faceswap-v3", json=body(pixel_boost="200x200"), headers=headers)
    assert plain.status_code == 200 and boosted.status_code == 200, (plain.text[:200], boosted.text[:200])
    assert decode_image(plain.content).shape == decode_image(boosted.content).shape
    assert plain.content != boosted.content  # the identity stand-in's round trip differs by boost size
    assert bad.status_code == 400 and bad.json()["error"].startswith("pixel_boost: '200x200' is not one of")
