"""SwapFaces, RestoreFace and the all-in-one Faceswap V3 node called as ComfyUI calls them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support import FACES
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.faceswap_v3 import FaceswapV3
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.engine import SwapModels
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.faceswap import run_faceswap
from faceswap_v3.pipeline.images import decode_image, encode_image, read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams

DETECTOR = "scrfd_2.5g_bnkps.onnx"
API = {
    "input_faces_index": ("0", None),
    "source_faces_index": ("0", None),
    "face_restore": ("codeformer-v0.1.0.pth", ["codeformer-v0.1.0.pth", "GFPGANv1.4.pth", "GFPGANv1.3.pth"]),
    "interpolation": ("Bilinear", ["Nearest", "Bilinear", "Bicubic", "Lanczos"]),
    "detection_face_order": ("large-small", ["large-small", "small-large", "top-bottom", "bottom-top",
                                             "left-right", "right-left"]),
    "facedetection": ("retinaface_resnet50", ["retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n"]),
    "detect_gender_input": ("no", ["no", "female", "male"]),
    "detect_gender_source": ("no", ["no", "female", "male"]),
    "face_restore_weight": (0.75, None),
    "image_format": ("jpeg", ["jpeg", "png", "webp"]),
    "image_quality": (95, None),
    "base64": (False, None),
}


@pytest.fixture(autouse=True)
def _models(monkeypatch, swap_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))


def api_values(**changes) -> dict:
    values = {name: default for name, (default, _) in API.items()}
    values.update(facedetection=DETECTOR, face_restore_weight=0.0, **changes)
    return values


def test_all_in_one_widgets_are_the_apis_parameters_in_order_with_its_defaults():
    required = FaceswapV3.INPUT_TYPES()["required"]
    assert list(required)[:len(API) + 2] == ["source_img", "target_img", *API]
    for name, (default, values) in API.items():
        spec = required[name]
        assert spec[1]["default"] == default, name
        assert "tooltip" in spec[1]
        if values is not None:
            assert spec[0][:len(values)] == values, name
    assert required["face_restore_weight"][1]["min"] == 0 and required["face_restore_weight"][1]["max"] == 1
    assert required["image_quality"][1]["min"] == 10 and required["image_quality"][1]["max"] == 100


def test_all_in_one_matches_the_engine_and_the_api_encoding(swap_root):
    source = read_image_file(FACES / "portrait_female_02.jpg")
    target = read_image_file(FACES / "portrait_male_damon.jpg")
    (out,) = FaceswapV3().swap(frames_to_image([source]), frames_to_image([target]),
                               **api_values(image_format="png"))
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False),
                        swapper_file="inswapper_128.onnx")
    direct = run_faceswap(source, [target], FaceswapParams(**api_values(image_format="png")), models).frames[0]
    assert np.array_equal(image_to_frames(out)[0], direct)
    (jpeg,) = FaceswapV3().swap(frames_to_image([source]), frames_to_image([target]),
                                **api_values(image_quality=40))
    assert np.array_equal(image_to_frames(jpeg)[0], decode_image(encode_image(direct, "jpeg", 40)))


def test_detect_then_swap_nodes_equal_the_engine():
    source = frames_to_image([read_image_file(FACES / "group_2faces_women_7242.jpg")])
    target = frames_to_image([read_image_file(FACES / "two_men.jpg")] * 2)
    source_faces, _, _ = DetectFaces().detect(source, DETECTOR, "left-right", "no", "1,0")
    target_faces, _, _ = DetectFaces().detect(target, DETECTOR, "left-right", "no", "0,1")
    (swapped,) = SwapFaces().swap(target, target_faces, "latent_shift.onnx", source_faces=source_faces)
    by_image = SwapFaces().swap(target, target_faces, "latent_shift.onnx", source_image=source,
                                source_faces_index="1,0")[0]
    assert torch.equal(swapped, by_image)
    assert not torch.equal(swapped, target)
    models = SwapModels(store=ModelStore(allow_download=False), swapper_file="latent_shift.onnx")
    direct = run_faceswap(image_to_frames(source)[0], image_to_frames(target),
                          FaceswapParams(**api_values(source_faces_index="1,0", input_faces_index="0,1",
                                                      detection_face_order="left-right")), models)
    assert all(np.array_equal(a, b) for a, b in zip(image_to_frames(swapped), direct.frames))


def test_batch_with_a_frame_without_face_passes_it_through():
    face = read_image_file(FACES / "portrait_male_damon.jpg")
    empty = np.full_like(face, 90)
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    (out,) = FaceswapV3().swap(source, frames_to_image([face, empty, face]), **api_values(image_format="png"))
    frames = image_to_frames(out)
    assert np.array_equal(frames[1], empty)
    assert not np.array_equal(frames[0], face) and np.array_equal(frames[0], frames[2])


def test_swap_faces_needs_a_source_and_matching_frames():
    target = frames_to_image([read_image_file(FACES / "two_men.jpg")])
    faces, _, _ = DetectFaces().detect(target, DETECTOR, "large-small", "no", "0")
    with pytest.raises(BadInput, match="SwapFaces needs source_faces or source_image"):
        SwapFaces().swap(target, faces, "inswapper_128.onnx")
    with pytest.raises(BadInput, match="target_faces has 1 frames but target_image has 2"):
        SwapFaces().swap(torch.cat([target, target]), faces, "inswapper_128.onnx", source_faces=faces)


def test_model_widgets_say_which_files_are_on_disk_and_which_will_download():
    required = FaceswapV3.INPUT_TYPES()["required"]
    detection = required["facedetection"][1]["tooltip"]
    assert "On disk: retinaface_mobile0.25." in detection
    assert "Downloaded on first use: retinaface_resnet50, YOLOv5l, YOLOv5n, scrfd_10g (buffalo_l)." in detection
    assert "Downloaded on first use: codeformer-v0.1.0.pth, GFPGANv1.4.pth, GFPGANv1.3.pth." in \
        required["face_restore"][1]["tooltip"]
    assert "On disk: inswapper_128.onnx." in SwapFaces.INPUT_TYPES()["required"]["swap_model"][1]["tooltip"]
