"""The swapping nodes' one content gate, checked before the swap like the server's: a frame the check blocks
never reaches the engine (the others do, numbered as in the batch), a blocked frame reports 0 faces swapped
and a zero mask, a per-frame mask follows its frames, a face from Detect Faces is checked as a source, and
a typo in FACESWAP_V3_CONTENT_CLASSIFIER is one line naming it. The classifier is FaceFusion's analysers as
stand-ins: they flag a magenta marker filling most of the view."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support import FACES
from faceswap_v3.nodes import content_gate
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.content_gate import ENV_CLASSIFIER, checked_swap
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image, image_to_lazy_frames
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.job import FaceswapResult
from test_nodes_swap import DETECTOR, api_values, named

PORTRAIT = read_image_file(FACES / "portrait_male_damon.jpg")  # 600 x 800
SOURCE = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
SIDE = 1600


def on_canvas(colour, photo: np.ndarray | None = PORTRAIT) -> np.ndarray:
    """A SIDE x SIDE canvas of colour with photo in its middle: on magenta it is flagged and has a face."""
    canvas = np.full((SIDE, SIDE, 3), colour, np.uint8)
    if photo is not None:
        top, left = (SIDE - photo.shape[0]) // 2, (SIDE - photo.shape[1]) // 2
        canvas[top:top + photo.shape[0], left:left + photo.shape[1]] = photo
    return canvas


GREY, MAGENTA = (128, 128, 128), (255, 0, 255)
FACE, FLAGGED_FACE, NO_FACE = on_canvas(GREY), on_canvas(MAGENTA), on_canvas(GREY, None)


@pytest.fixture(autouse=True)
def _facefusion_standins(monkeypatch, swap_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))  # content_analyser/ holds the stand-ins
    monkeypatch.setenv(ENV_CLASSIFIER, "facefusion")


class RecordingEngine:
    """The gate's swap step as a plain function: it records the frames it is given and 'swaps' each by
    inverting it, one face each, with a full mask and a per-frame line as the engine writes them."""

    def __init__(self) -> None:
        self.given: list[list[int]] = []

    def __call__(self, frames, kept, mask, after_frame, on_step) -> FaceswapResult:
        self.given.append(list(kept))
        out = [255 - np.asarray(frames[j]) for j in range(len(frames))]
        return FaceswapResult(out, warnings=[f"frame {j}: seen" for j in range(len(frames))],
                              masks=[np.ones(f.shape[:2], np.float32) for f in out], faces_swapped=[1] * len(out),
                              face_similarities=[[0.5] for _ in out])


def test_a_blocked_frame_never_reaches_the_engine():
    frames = [FACE, FLAGGED_FACE, NO_FACE]
    image = frames_to_image(frames)
    engine = RecordingEngine()
    out_image, info, mask, similarity = checked_swap("on", None, image_to_lazy_frames(image), image, None, engine)
    assert engine.given == [[0, 2]]
    assert torch.equal(out_image[1], image[1]) and not torch.equal(out_image[0], image[0])
    assert info.splitlines()[0] == "faces swapped per frame: 1, 0, 1"
    assert "frame 0: seen" in info and "frame 2: seen" in info and "frame 1: seen" not in info
    assert "frame 1: the target was blocked (facefusion" in info
    assert float(mask[1].abs().sum()) == 0.0 and float(mask[0].min()) == 1.0
    assert similarity[0] == pytest.approx(0.5) and np.isnan(similarity[1])


def test_a_result_the_check_blocks_reports_no_face_swapped_and_a_zero_mask():
    image = frames_to_image([FACE, FACE])

    def flagged_result(frames, kept, mask, after_frame, on_step):
        out = [np.asarray(frames[0]), np.full_like(np.asarray(frames[1]), MAGENTA)]
        return FaceswapResult(out, masks=[np.ones(f.shape[:2], np.float32) for f in out], faces_swapped=[1, 1])

    out_image, info, mask, _ = checked_swap("on", None, [FACE, FACE], image, None, flagged_result)
    assert info.splitlines()[0] == "faces swapped per frame: 1, 0"
    assert "frame 1: the result was blocked" in info and torch.equal(out_image[1], image[1])
    assert float(mask[1].abs().sum()) == 0.0 and float(mask[0].min()) == 1.0


def test_a_blocked_source_means_no_engine_run_at_all():
    engine = RecordingEngine()
    image = frames_to_image([FACE])
    out_image, info, mask, _ = checked_swap("on", FLAGGED_FACE, [FACE], image, None, engine)
    assert engine.given == [] and torch.equal(out_image, image)
    assert "faces swapped per frame: 0" in info and "the source image was blocked" in info


def test_the_node_numbers_the_engines_warnings_as_in_the_batch_and_cuts_a_per_frame_mask():
    image = frames_to_image([FACE, FLAGGED_FACE, FACE])
    keep = torch.ones((3, SIDE, SIDE))
    keep[2] = 0  # frame 2 may not change
    out = named(FaceswapV3, FaceswapV3().swap(SOURCE, image, **api_values(input_faces_index="0,1"), mask=keep))
    lines = out["info"].splitlines()
    assert lines[0] == "faces swapped per frame: 1, 0, 1"
    # the engine saw two frames and warned of its frames 0 and 1: the batch's frames 0 and 2
    untouched = [line.split(":")[1].strip() for line in lines if line.endswith("left untouched")]
    assert untouched == ["frame 0", "frame 2"]
    assert torch.equal(out["image"][1], image[1]) and float(out["mask"][1].abs().sum()) == 0.0
    assert not torch.equal(out["image"][0], image[0])
    assert torch.allclose(out["image"][2], image[2], atol=1 / 255)  # its mask kept it


def test_swap_faces_checks_the_image_its_source_faces_came_from():
    detect = DetectFaces()
    source_faces = detect.detect(frames_to_image([FLAGGED_FACE]), DETECTOR, "large-small", "no", "0")[0]
    target = frames_to_image([PORTRAIT])
    target_faces = detect.detect(target, DETECTOR, "large-small", "no", "0")[0]
    assert source_faces.analyses[0].selection.picked[0] is not None  # a face to swap with, on magenta
    out = named(SwapFaces, SwapFaces().swap(target, target_faces, "inswapper_128.onnx", source_faces=source_faces))
    assert torch.equal(out["image"], target) and "the source image was blocked" in out["info"]


def test_a_typo_in_the_classifier_setting_is_one_line_and_no_traceback_text(monkeypatch):
    monkeypatch.setenv(ENV_CLASSIFIER, "nudenet3")
    monkeypatch.setattr(content_gate, "_loaded", {})
    with pytest.raises(BadInput) as refused:
        FaceswapV3().swap(SOURCE, frames_to_image([PORTRAIT]), **api_values())
    assert str(refused.value).startswith(f"{ENV_CLASSIFIER} must be facefusion or nudenet, got 'nudenet3'")
    assert "\n" not in str(refused.value)
