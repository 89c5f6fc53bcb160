"""Behaviours pinned at values where the alternatives differ: each test fails when its behaviour changes
(a blend at 0.75, not 0/0.5/1; an order on faces whose top and bottom edges disagree; a gate with one
condition met and the other not), where the rest of the suite would stay green."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest

from support import FACES, restore_one_frame
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.restore_face import RestoreFace
from faceswap_v3.pipeline.geometry.align import ffhq_matrix, swap_matrix
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.face import Face
from faceswap_v3.pipeline.geometry.box_mask import box_mask
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.job import make_restore, run_faceswap
from faceswap_v3.pipeline.models import cache as model_cache
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.options import DEFAULTS
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.geometry.paste import paste_crop
from faceswap_v3.pipeline.analysis.reference import ReferenceSelector
from faceswap_v3.pipeline.analysis.selection import order_faces
from faceswap_v3.pipeline.analysis.tracking import FOLLOWED, LOST, FaceTracker

DETECTOR = "scrfd_2.5g_bnkps.onnx"


@pytest.fixture(scope="module")
def portrait(store):
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    return rgb, analyze_image(rgb, AnalysisRequest(DETECTOR), store).selection.picked[0]


def centre_patch(face: Face) -> tuple[slice, slice]:
    x1, y1, x2, y2 = (int(v) for v in face.box)
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    return slice(cy - 10, cy + 10), slice(cx - 10, cx + 10)


# --- restoration ------------------------------------------------------------------------------------
def test_the_api_default_restore_weight_shows_three_quarters_restored_over_one_quarter_swapped(portrait):
    rgb, face = portrait
    weight = FaceswapParams().face_restore_weight
    assert weight == DEFAULTS["face_restore_weight"] == 0.75
    white = restore_one_frame(rgb, [face], lambda crop: np.full_like(crop, 255), weight).astype(float)
    centre = centre_patch(face)
    expected = 0.75 * 255 + 0.25 * rgb[centre].astype(float)  # the other way round: 0.25 * 255 + 0.75 * rgb
    assert np.allclose(white[centre], expected, atol=4)


@pytest.fixture(scope="module")
def codeformer(restorer_root):
    return SwapModels(store=ModelStore(models_root=restorer_root, allow_download=False)).restorer(
        "codeformer-v0.1.0.pth")


class Stop(Exception):
    pass


def weight_codeformer_receives(restorer, fidelity: float | None) -> float:
    """The `weight` CodeFormer's own forward is called with (0 = strongest restoration, 1 = closest to the
    input, in CodeFormer's and spandrel's terms) when we restore at this fidelity (None: our default).
    The network itself is stopped before it computes anything."""
    seen = []

    def record(module, args, kwargs):
        seen.append(kwargs.get("weight"))
        raise Stop

    handle = restorer.descriptor.model.register_forward_pre_hook(record, with_kwargs=True)
    crop = np.zeros((1, 512, 512, 3), np.uint8)
    try:
        with pytest.raises(Stop):
            restorer.restore_batch(crop) if fidelity is None else restorer.restore_batch(crop, fidelity)
    finally:
        handle.remove()
    return seen[0]


def test_codeformer_fidelity_is_codeformers_weight_the_same_way_round_and_defaults_to_one_half(codeformer):
    assert codeformer.architecture == "CodeFormer"
    assert weight_codeformer_receives(codeformer, 0.25) == 0.25  # the other way round would be 0.75
    assert weight_codeformer_receives(codeformer, 1.0) == 1.0
    assert weight_codeformer_receives(codeformer, None) == 0.5
    fidelity_widget = RestoreFace.INPUT_TYPES()["required"]["codeformer_fidelity"][1]
    assert fidelity_widget["default"] == DEFAULTS["codeformer_fidelity"] == 0.5


def test_the_engines_restore_step_uses_the_fidelity_default(restorer_root, portrait, monkeypatch):
    rgb, face = portrait
    models = SwapModels(store=ModelStore(models_root=restorer_root, allow_download=False))
    restorer = models.restorer("codeformer-v0.1.0.pth")
    asked = []
    monkeypatch.setattr(restorer, "restore_batch", lambda crops, fidelity=None: asked.append(fidelity) or crops)
    restore = make_restore(models, FaceswapParams(face_restore="codeformer-v0.1.0.pth", facedetection=DETECTOR))
    restore([rgb.copy()], [[face]], None, None)  # in place: a copy of the shared photo
    assert asked == [0.5]


# --- reference mode ---------------------------------------------------------------------------------
def test_reference_distance_defaults_to_0_6_in_both_widgets_and_the_engine():
    for node in (DetectFaces, FaceswapV3):
        widget = node.INPUT_TYPES()["optional"]["reference_distance"][1]
        assert widget["default"] == 0.6, node.__name__
    assert ReferenceSelector(references=()).max_distance == 0.6 == DEFAULTS["reference_distance"]


# --- tracking ---------------------------------------------------------------------------------------
def tracked_face(x: float, y: float, width: float = 100.0, landmark_shift=(0.0, 0.0)) -> Face:
    relative = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
    landmarks = np.array([x, y]) + relative * [width, width * 1.25] + np.asarray(landmark_shift)
    return Face(box=(x, y, x + width, y + width * 1.25), score=0.9, landmarks=landmarks.astype(np.float32))


def follow_second_frame(first: Face, candidates: list[Face]):
    tracker = FaceTracker()
    tracker.start([first], [first])
    return tracker.step(candidates)[0]


def test_the_tracker_prefers_the_face_that_overlaps_more_when_the_landmarks_moved_alike():
    first = tracked_face(200, 200)
    shift = (12.0, 0.0)  # both candidates' landmarks moved the same 12 px
    overlapping = tracked_face(200, 200, landmark_shift=shift)  # the box where it was: IoU 1
    beside = tracked_face(250, 200, landmark_shift=(shift[0] - 50, 0.0))  # box moved half a width: IoU 1/3
    pick = follow_second_frame(first, [beside, overlapping])
    assert pick.state == FOLLOWED and pick.face is overlapping


def test_the_tracker_gate_refuses_a_face_only_when_both_overlap_and_landmarks_fail():
    first = tracked_face(200, 200)
    # the box overlaps (IoU 1) but the landmarks moved 60 px (0.6 face widths > 0.35): still the person
    turned = tracked_face(200, 200, landmark_shift=(60.0, 0.0))
    assert follow_second_frame(first, [turned]).face is turned
    # the landmarks stayed put but the box moved 80% of its width (IoU 0.11 < 0.3): still the person
    reboxed = tracked_face(280, 200, landmark_shift=(-80.0, 0.0))
    assert follow_second_frame(first, [reboxed]).face is reboxed
    # both fail: a stranger
    stranger = tracked_face(600, 200)
    assert follow_second_frame(first, [stranger]).state == LOST


# --- similarity per frame ---------------------------------------------------------------------------
def test_a_frame_with_two_swapped_faces_reports_the_lower_similarity(swap_root):
    two_men = read_image_file(FACES / "two_men.jpg")
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))
    # the left man's identity onto both men with the identity stand-in swapper: the left face stays
    # itself (similarity ~1), the right one keeps the right man's face (a low similarity); measured only when
    # measure_similarity asks for it (off: NaN per frame, no recognizer run)
    params = FaceswapParams(facedetection=DETECTOR, detection_face_order="left-right", input_faces_index="0,1",
                            source_faces_index="0", face_restore_weight=0.0, measure_similarity=True)
    result = run_faceswap(two_men, [two_men], params, models)
    (left, right), = result.face_similarities
    assert left > 0.95 and right < 0.5
    assert result.similarity_per_frame == [right]
    no_face = run_faceswap(two_men, [np.full_like(two_men, 90)], params, models)
    assert math.isnan(no_face.similarity_per_frame[0])


# --- face order -------------------------------------------------------------------------------------
def test_top_bottom_orders_by_each_faces_top_edge_not_its_bottom_or_centre():
    tall = Face(box=(100, 100, 300, 600), score=0.9, landmarks=np.zeros((5, 2), np.float32))  # top 100, bottom 600
    short = Face(box=(400, 150, 500, 250), score=0.9, landmarks=np.zeros((5, 2), np.float32))  # top 150, bottom 250
    assert order_faces([short, tall], "top-bottom") == [tall, short]
    assert order_faces([tall, short], "bottom-top") == [short, tall]
    wide = Face(box=(100, 100, 600, 200), score=0.9, landmarks=np.zeros((5, 2), np.float32))  # left 100, right 600
    narrow = Face(box=(150, 300, 250, 400), score=0.9, landmarks=np.zeros((5, 2), np.float32))  # left 150, right 250
    assert order_faces([narrow, wide], "left-right") == [wide, narrow]
    assert order_faces([wide, narrow], "right-left") == [narrow, wide]


# --- paste-back region ------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [(0.0, 0.0), (37.4, 21.7)])
def test_paste_back_covers_the_whole_feathered_mask_up_to_the_crops_left_and_top_edges(offset):
    """The paste weights equal the mask warped over the whole frame: nothing of the feathered support is
    cut off, at its left/top edges as at its right/bottom ones."""
    import cv2

    frame = np.zeros((400, 420, 3), np.uint8)
    landmarks = np.array([[160, 170], [240, 170], [200, 215], [168, 255], [232, 255]], np.float32) + offset
    matrix = swap_matrix(landmarks, 128)
    crop = np.full((128, 128, 3), 255, np.uint8)
    coverage = np.zeros(frame.shape[:2], np.float32)
    paste_crop(frame, crop, matrix, coverage=coverage)
    inverse = cv2.invertAffineTransform(matrix)
    whole = cv2.warpAffine(box_mask(128), inverse, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                           borderValue=0.0)
    assert (whole > 0).sum() > 5000
    assert np.allclose(coverage, whole, atol=1e-5)
    rows, cols = np.nonzero(whole)
    assert coverage[rows.min()].max() > 0 and coverage[:, cols.min()].max() > 0


# --- the model cache --------------------------------------------------------------------------------
def test_a_model_building_slowly_does_not_hold_up_another_models_load():
    cache = model_cache.ProcessModelCache()
    building, release = threading.Event(), threading.Event()

    def slow_detector():
        building.set()
        assert release.wait(10)
        return "detector"

    slow = threading.Thread(target=lambda: cache.get("detector", Path("d.pth"), None, slow_detector))
    slow.start()
    assert building.wait(10)
    got = []
    other = threading.Thread(target=lambda: got.append(cache.get("swapper", Path("s.onnx"), None, lambda: "swapper")))
    other.start()
    other.join(5)
    release.set()
    slow.join(10)
    assert got == ["swapper"]  # built while the detector was still building


# --- errors a user can act on -----------------------------------------------------------------------
def test_degenerate_landmarks_are_a_bad_input_naming_what_to_do():
    on_one_point = np.full((5, 2), 120.0, np.float32)
    for align in (lambda: ffhq_matrix(on_one_point), lambda: swap_matrix(on_one_point, 128)):
        with pytest.raises(BadInput, match="degenerate .* pick another face index or another facedetection"):
            align()


def test_retinafaces_cached_prior_table_is_read_only():
    from faceswap_v3.pipeline.analysis.detectors.retinaface import prior_boxes

    table = prior_boxes(64, 96)
    assert table is prior_boxes(64, 96) and not table.flags.writeable  # shared by every later call
    with pytest.raises(ValueError):
        table[0, 0] = 1.0


def test_a_frame_of_another_size_in_a_batch_is_a_bad_input_naming_the_fix():
    from faceswap_v3.pipeline.runtime.read_ahead import LazyFrames

    frames = LazyFrames(2, (4, 6, 3), lambda i: np.zeros((4, 6, 3) if i == 0 else (5, 6, 3), np.uint8))
    assert frames[0].shape == (4, 6, 3)
    with pytest.raises(BadInput, match=r"frame 1 decoded to shape \(5, 6, 3\).*resize the frames first"):
        frames[1]


def test_an_unknown_model_name_is_model_unavailable_listing_the_known_ones():
    from faceswap_v3.pipeline.errors import ModelUnavailable
    from faceswap_v3.pipeline.models.registry import model_file

    with pytest.raises(ModelUnavailable, match=r"'no_such_model.onnx' is not a model this pack knows; use one of .*"
                                                r"inswapper_128.onnx"):
        model_file("no_such_model.onnx")
