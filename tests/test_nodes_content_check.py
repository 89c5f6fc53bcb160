"""The content check in the swapping nodes, called as ComfyUI calls them: a blocked frame comes out
bit-identical to the frame that went in (never black), with a warning in info; a blocked source blocks every
frame; without an installed classifier info says how to get one; a broken classifier set names its file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import standins
from support import FACES
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.content_gate import ENV_CLASSIFIER, NOT_INSTALLED
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image
from faceswap_v3.pipeline.errors import ModelUnavailable
from faceswap_v3.pipeline.runtime.images import read_image_file
from test_nodes_swap import DETECTOR, api_values, named

PORTRAIT = read_image_file(FACES / "portrait_male_damon.jpg")
SOURCE = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])


def marker_like(frame: np.ndarray) -> np.ndarray:
    return np.full_like(frame, 0) + np.array([255, 0, 255], np.uint8)


@pytest.fixture(autouse=True)
def _facefusion_standins(monkeypatch, swap_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))  # content_analyser/ holds the stand-ins
    monkeypatch.setenv(ENV_CLASSIFIER, "facefusion")


def batch_with_a_marker_frame() -> torch.Tensor:
    """A portrait and a marker frame, as float32 values no uint8 image gives (so exactness shows)."""
    frames = frames_to_image([PORTRAIT, marker_like(PORTRAIT)])
    return (frames * 0.999 + 0.0004).to(torch.float32)


def test_a_blocked_frame_passes_through_bit_identical_and_the_others_are_swapped():
    target = batch_with_a_marker_frame()
    out = named(FaceswapV3, FaceswapV3().swap(SOURCE, target, **api_values()))
    assert torch.equal(out["image"][1], target[1])  # the blocked frame, untouched to the last bit
    assert not torch.equal(out["image"][0], target[0])  # the portrait was swapped
    assert out["info"].splitlines()[0] == "faces swapped per frame: 1, 0"
    assert any("frame 1: the target was blocked (facefusion" in line and "passed through unchanged" in line
               for line in out["info"].splitlines())
    assert float(out["mask"][1].abs().sum()) == 0.0 and np.isnan(out["face_similarity"][1])


def test_a_blocked_source_blocks_every_frame_and_no_swap_runs():
    target = frames_to_image([PORTRAIT])
    marker_source = frames_to_image([marker_like(PORTRAIT)])
    out = named(FaceswapV3, FaceswapV3().swap(marker_source, target, **api_values()))
    assert torch.equal(out["image"], target)
    assert "faces swapped per frame: 0" in out["info"] and "the source image was blocked" in out["info"]


def test_swap_faces_passes_a_blocked_frame_through_unchanged():
    target = batch_with_a_marker_frame()
    faces = DetectFaces().detect(target, DETECTOR, "large-small", "no", "0")[0]
    out = named(SwapFaces, SwapFaces().swap(target, faces, "inswapper_128.onnx", source_image=SOURCE))
    assert torch.equal(out["image"][1], target[1]) and not torch.equal(out["image"][0], target[0])
    assert "frame 1: the target was blocked" in out["info"]


def test_off_checks_nothing_and_no_classifier_is_said_in_info(monkeypatch, models_root, tmp_path):
    target = batch_with_a_marker_frame()
    off = named(FaceswapV3, FaceswapV3().swap(SOURCE, target, **api_values(), content_check="off"))
    assert "blocked" not in off["info"] and NOT_INSTALLED not in off["info"]
    empty = tmp_path / "models"
    empty.mkdir()
    for sub in ("facedetection", "insightface"):
        (empty / sub).symlink_to(models_root / sub, target_is_directory=True)
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(empty))
    unchecked = named(FaceswapV3, FaceswapV3().swap(SOURCE, target, **api_values()))
    assert NOT_INSTALLED in unchecked["info"] and "pip install nudenet" in unchecked["info"]


def test_an_incomplete_facefusion_set_is_an_error_naming_the_missing_file(monkeypatch, models_root, tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    for sub in ("facedetection", "insightface"):
        (root / sub).symlink_to(models_root / sub, target_is_directory=True)
    standins.content_analyser(root / "content_analyser" / "nsfw_1.onnx", "nsfw_1")
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(root))
    with pytest.raises(ModelUnavailable, match=r"nsfw_2\.onnx not found.*facefusion-assets"):
        FaceswapV3().swap(SOURCE, frames_to_image([PORTRAIT]), **api_values())


def test_the_content_check_widget_is_the_last_of_both_nodes():
    for node, after in ((FaceswapV3, ["image_format", "image_quality"]), (SwapFaces, [])):
        optional = node.INPUT_TYPES()["optional"]  # the all-in-one's output encoding comes last: it changes no pixel
        assert list(optional)[-1 - len(after):] == ["content_check", *after]
        assert optional["content_check"][1]["default"] == "on"
