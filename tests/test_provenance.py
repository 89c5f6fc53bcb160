"""Every image the server and the CLI write says, machine-readably, that a trained model altered it: XMP
DigitalSourceType compositeWithTrainedAlgorithmicMedia (JPEG, PNG, WebP), EXIF Software and a PNG Software
text chunk naming the pack, its version and the swap model. Read back with Pillow and an XML parser only."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import httpx
import pytest
from PIL import Image

from server_harness import b64
from support import FACES

TRAINED_COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
IPTC_EXT = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}"
SOURCE, TARGET = FACES / "portrait_female_02.jpg", FACES / "portrait_male_01.jpg"


def marks(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as image:
        xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
        source_types = [e.text for e in ET.fromstring(xmp).iter(f"{IPTC_EXT}DigitalSourceType")] if xmp else []
        return {"format": image.format, "source_types": source_types,
                "exif_software": image.getexif().get(0x0131), "png_software": image.info.get("Software")}


def assert_marked(data: bytes, image_format: str, swap_model: str) -> None:
    found = marks(data)
    assert found["format"] == image_format and found["source_types"] == [TRAINED_COMPOSITE]
    assert found["exif_software"].startswith("Faceswap V3 for ComfyUI 0.") and swap_model in found["exif_software"]
    if image_format == "PNG":
        assert found["png_software"] == found["exif_software"]


@pytest.fixture(scope="module")
def server(start_api_server, swap_root):
    return start_api_server(swap_root)


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp"])
def test_the_servers_outputs_carry_the_marks(server, image_format):
    body = {"source_img": b64(SOURCE.read_bytes()), "target_img": b64(TARGET.read_bytes()),
            "image_format": image_format, "face_restore_weight": 0, "facedetection": "scrfd_2.5g_bnkps.onnx"}
    answer = httpx.post(f"{server}/v1/faceswap-v3", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    assert_marked(answer.content, {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[image_format], "inswapper_128.onnx")


@pytest.mark.parametrize("name, image_format", [("out.jpg", "JPEG"), ("out.png", "PNG"), ("out.webp", "WEBP")])
def test_the_clis_outputs_carry_the_marks(swap_root, tmp_path, name, image_format):
    out = tmp_path / name
    result = subprocess.run([sys.executable, "-m", "faceswap_v3", "swap", "--models-dir", str(swap_root),
                             "--source", str(SOURCE), "--target", str(TARGET), "-o", str(out),
                             "--swap-model", "solid_green.onnx", "--face-restore-weight", "0",
                             "--facedetection", "scrfd_2.5g_bnkps.onnx"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert_marked(out.read_bytes(), image_format, "solid_green.onnx")


def test_save_image_marked_saves_like_save_image_and_adds_the_marks(tmp_path, monkeypatch):
    import json

    import numpy as np

    from faceswap_v3.nodes.save_image_marked import SaveImageMarked
    from faceswap_v3.nodes.tensors import frames_to_image
    from faceswap_v3.pipeline.runtime.images import read_image_file

    monkeypatch.chdir(tmp_path)  # outside ComfyUI the output folder is ./output
    target = read_image_file(TARGET)
    frames = [target, np.ascontiguousarray(target[::-1])]
    prompt, workflow = {"1": {"class_type": "FaceswapV3"}}, {"nodes": [{"id": 1}]}
    node = SaveImageMarked()
    first = node.save_images(frames_to_image(frames), "faces/swap", prompt, {"workflow": workflow})
    second = node.save_images(frames_to_image(frames[:1]), "faces/swap")
    names = [entry["filename"] for entry in first["ui"]["images"] + second["ui"]["images"]]
    assert names == ["swap_00001_.png", "swap_00002_.png", "swap_00003_.png"]
    assert {entry["subfolder"] for entry in first["ui"]["images"]} == {"faces"}
    saved = tmp_path / "output" / "faces" / "swap_00001_.png"
    data = saved.read_bytes()
    assert_marked(data, "PNG", "")
    with Image.open(saved) as image:
        assert json.loads(image.info["prompt"]) == prompt and json.loads(image.info["workflow"]) == workflow
        assert np.array_equal(np.asarray(image.convert("RGB")), frames[0])
    assert SaveImageMarked.INPUT_TYPES()["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
