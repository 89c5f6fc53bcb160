"""LoadFace and DetectFaces called as ComfyUI calls them: widget values in, IMAGE tensors out."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
import torch

from devices import torch_device_pattern
from support import FACES
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.load_face import LoadFace
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.runtime.onnx_session import runtime_for
from faceswap_v3.pipeline.runtime.images import read_image_file


@pytest.fixture(autouse=True)
def _models(monkeypatch, models_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(models_root))


def test_load_face_from_path_base64_and_url(http_server, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_IMAGE_FOLDERS", str(FACES))  # the user's opt-ins for a path and a loopback URL
    monkeypatch.setenv("FACESWAP_V3_ALLOW_PRIVATE_URLS", "1")
    path = FACES / "portrait_male_02.jpg"
    expected = read_image_file(path)
    http_server.routes["/face.jpg"] = (200, {"Content-Type": "image/jpeg"}, path.read_bytes())
    for reference in (str(path), base64.b64encode(path.read_bytes()).decode(), http_server.url + "/face.jpg"):
        (image,) = LoadFace().load(image=None, url_or_path_or_base64=reference)
        assert image.dtype == torch.float32 and tuple(image.shape) == (1, 418, 740, 3)
        assert np.array_equal(image_to_frames(image)[0], expected)
    assert LoadFace.VALIDATE_INPUTS(image=None, url_or_path_or_base64=str(path)) is True
    assert "pick an image" in LoadFace.VALIDATE_INPUTS(image=None, url_or_path_or_base64="")


def test_detect_faces_on_a_batch_returns_faces_preview_and_provider():
    frames = [read_image_file(FACES / "two_men.jpg")] * 2
    faces, preview, info = DetectFaces().detect(frames_to_image(frames), "retinaface_mobile0.25", "left-right",
                                                "no", "1,4")
    assert len(faces.analyses) == 2
    for analysis in faces.analyses:
        picked = analysis.selection.picked
        assert picked[0] is analysis.selection.candidates[1] and picked[1] is None
        assert analysis.selection.missing == (4,)
    assert tuple(preview.shape) == (2, 661, 1126, 3)
    changed = (image_to_frames(preview)[0] != frames[0]).any(axis=2)
    assert 0.001 < changed.mean() < 0.2  # boxes and numbers drawn, photo otherwise intact
    assert "faces per frame: 2, 2" in info
    assert re.search(rf"retinaface_mobile0\.25: torch:{torch_device_pattern()}(;|\n)", info), info
    assert info.endswith("\nframe 0: target has only 2 face(s) after filtering; faces_index asks for 4"
                         "\nframe 1: target has only 2 face(s) after filtering; faces_index asks for 4")


def test_detect_faces_gender_filter_reports_onnxruntime_provider():
    image = frames_to_image([read_image_file(FACES / "couple_female_left_male_right.jpg")])
    faces, _, info = DetectFaces().detect(image, "det_500m.onnx", "large-small", "male", "0")
    assert faces.analyses[0].selection.picked[0].gender == "M"
    assert f"det_500m.onnx: {runtime_for('detect').name}" in info  # onnxruntime:cpu:fp32 or :cuda:0:fp32 here
    assert f"genderage: {runtime_for('genderage').name}" in info


def test_detect_faces_rejects_bad_index_and_empty_batch():
    image = frames_to_image([read_image_file(FACES / "two_men.jpg")])
    with pytest.raises(BadInput, match="faces_index: 'x' is not a face index"):
        DetectFaces().detect(image, "retinaface_mobile0.25", "large-small", "no", "x")
    with pytest.raises(BadInput, match="the image batch is empty"):
        DetectFaces().detect(torch.zeros((0, 64, 64, 3)), "retinaface_mobile0.25", "large-small", "no", "0")


def prompt_feeding(node_id: str, input_name: str) -> dict:
    """An API-format prompt where Detect Faces `node_id` feeds Swap Faces' `input_name`."""
    return {node_id: {"class_type": "FaceswapV3DetectFaces", "inputs": {}},
            "9": {"class_type": "FaceswapV3SwapFaces", "inputs": {input_name: [node_id, 0], "target_image": ["1", 0]}}}


def test_a_source_faces_index_past_the_faces_is_reported_on_detect_faces_naming_its_widget():
    image = frames_to_image([read_image_file(FACES / "two_men.jpg")])
    with pytest.raises(BadInput, match=re.escape(
            "source has only 2 face(s) after filtering; faces_index asks for 5; these faces are Swap Faces' "
            "source_faces, where every face asked for must exist: faces_index can be 0 to 1")):
        DetectFaces().detect(image, "retinaface_mobile0.25", "left-right", "no", "0,5",
                             prompt=prompt_feeding("3", "source_faces"), unique_id="3")
    # the same faces as a target: frames without them pass through, so a warning (in info), not an error
    _, _, info = DetectFaces().detect(image, "retinaface_mobile0.25", "left-right", "no", "0,5",
                                      prompt=prompt_feeding("3", "target_faces"), unique_id="3")
    assert info.endswith("\ntarget has only 2 face(s) after filtering; faces_index asks for 5")
    for prompt, node in ((prompt_feeding("4", "source_faces"), "3"), ({"1": "x", "2": {"inputs": 5}}, "3"),
                         (None, None)):  # another node's link, a malformed shared prompt, outside ComfyUI
        DetectFaces().detect(image, "retinaface_mobile0.25", "left-right", "no", "5", prompt=prompt, unique_id=node)
