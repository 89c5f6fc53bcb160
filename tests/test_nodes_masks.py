"""The pixel-boost and mask widgets, the mask input and the mask output of SwapFaces, the all-in-one
node and RestoreFace, called as ComfyUI calls them (stand-in swappers; no quality claim)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support import FACES, named
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.restore_face import RestoreFace
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.runtime.images import read_image_file

DETECTOR = "scrfd_2.5g_bnkps.onnx"
NEW_WIDGETS = ["pixel_boost", "face_mask_types", "face_mask_blur", "face_mask_padding", "face_mask_regions",
               "face_occluder_model", "face_parser_model"]


@pytest.fixture(autouse=True)
def _models(monkeypatch, swap_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))


def api_values(**changes) -> dict:
    values = {"input_faces_index": "0", "source_faces_index": "0", "face_restore": "codeformer-v0.1.0.pth",
              "interpolation": "Bilinear", "detection_face_order": "large-small", "facedetection": DETECTOR,
              "detect_gender_input": "no", "detect_gender_source": "no", "face_restore_weight": 0.0,
              "image_format": "png", "image_quality": 95, "base64": False}
    return {**values, **changes}


def test_new_widgets_come_after_the_existing_ones_with_todays_behaviour_as_default():
    inputs = FaceswapV3.INPUT_TYPES()  # the frontend lists required widgets, then optional ones
    # the last required API widget of the local node (image_format/image_quality are its last widgets)
    assert list(inputs["required"])[-1] == "face_restore_weight"
    assert list(inputs["optional"])[:len(NEW_WIDGETS)] == NEW_WIDGETS
    optional = SwapFaces.INPUT_TYPES()["optional"]
    assert list(optional)[list(optional).index("source_faces_index") + 1:][:len(NEW_WIDGETS)] == NEW_WIDGETS
    assert optional["pixel_boost"][0] == ["128x128", "256x256", "384x384", "512x512", "768x768", "1024x1024"]
    assert optional["pixel_boost"][1]["default"] == "128x128"
    assert optional["face_mask_types"][1]["default"] == "box"
    assert "box+occlusion+region" in optional["face_mask_types"][0]
    for node in (SwapFaces, FaceswapV3, RestoreFace):
        assert node.INPUT_TYPES()["optional"]["mask"][0] == "MASK"
    for node in (SwapFaces, FaceswapV3):
        assert dict(zip(node.RETURN_NAMES, node.RETURN_TYPES))["mask"] == "MASK"
        assert node.RETURN_NAMES == ("image", "info", "mask", "face_similarity")


def test_all_in_one_mask_output_holds_every_changed_pixel_and_a_half_mask_holds():
    source = frames_to_image([read_image_file(FACES / "portrait_male_damon.jpg")])
    target_rgb = read_image_file(FACES / "portrait_female_johansson.jpg")
    target = frames_to_image([target_rgb, target_rgb])
    half = torch.zeros((1, *target_rgb.shape[:2]))
    half[:, :, : target_rgb.shape[1] // 2] = 1.0
    out = named(FaceswapV3, FaceswapV3().swap(source, target, mask=half, **api_values(),
                                              pixel_boost="256x256", face_mask_types="box"))
    assert out["mask"].shape == (2, *target_rgb.shape[:2]) and out["mask"].dtype == torch.float32
    for frame, mask in zip(image_to_frames(out["image"]), out["mask"].numpy()):
        changed = (frame != target_rgb).any(axis=2)
        assert not changed[:, target_rgb.shape[1] // 2:].any()
        assert not (changed & (mask == 0)).any() and changed.sum() > 1000  # identity stand-in: changes sparse
        assert mask[:, target_rgb.shape[1] // 2:].max() == 0 and mask.max() > 0.99


def test_swap_faces_node_takes_boost_masks_and_a_per_frame_mask():
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    rgb = read_image_file(FACES / "two_men.jpg")
    target = frames_to_image([rgb, rgb])
    faces, _, _ = DetectFaces().detect(target, DETECTOR, "left-right", "no", "0,1")
    masks = torch.stack([torch.ones(rgb.shape[:2]), torch.zeros(rgb.shape[:2])])
    out = named(SwapFaces, SwapFaces().swap(target, faces, "solid_green.onnx", source_image=source,
                                            pixel_boost="512x512", mask=masks, face_mask_padding="0,0,10,0"))
    first, second = image_to_frames(out["image"])
    assert (first != rgb).any(axis=2).mean() > 0.01 and np.array_equal(second, rgb)
    assert out["mask"][0].max() > 0.99 and out["mask"][1].max() == 0
    with pytest.raises(BadInput, match=r"^mask has 3 frames but the image has 2"):
        SwapFaces().swap(target, faces, "solid_green.onnx", source_image=source, mask=torch.ones((3, *rgb.shape[:2])))
    with pytest.raises(BadInput, match=r"^face_mask_padding: '5,5' is not one whole percent"):
        SwapFaces().swap(target, faces, "solid_green.onnx", source_image=source, face_mask_padding="5,5")


def test_restore_face_never_changes_where_the_mask_is_zero(restorer_root, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(restorer_root))
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    keep = torch.zeros((1, *rgb.shape[:2]))
    keep[:, : rgb.shape[0] // 2] = 1.0  # top half only
    out = named(RestoreFace, RestoreFace().restore(frames_to_image([rgb]), "GFPGANv1.4.pth", 1.0, 0.5, "Bilinear",
                                                   DETECTOR, mask=keep))["image"]
    frame = image_to_frames(out)[0]
    assert np.array_equal(frame[rgb.shape[0] // 2:], rgb[rgb.shape[0] // 2:])
    assert (frame[: rgb.shape[0] // 2] != rgb[: rgb.shape[0] // 2]).any()
