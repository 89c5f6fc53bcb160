"""track_faces: the faces picked in a batch's first frame are followed through the batch. The tracker on
made-up face records, then DetectFaces and the whole swap on a clip synthesized from the real group photo
(bench/synthetic_clip.py: pan and zoom with known motion, a size-order flip, faces leaving the frame, the
leader hidden for two frames); boxes are compared with where the motion puts each face."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from support import FACES, REPO, named
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.face import Face
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.analysis.selection import select_faces
from faceswap_v3.pipeline.analysis.tracking import (ENDED, FOLLOWED, LOST, NOT_STARTED, PICKED, REACQUIRED,
                                                    FaceTracker, TrackerSettings, box_iou)

sys.path.insert(0, str(REPO / "bench"))
from synthetic_clip import GROUP_PHOTO_BOXES, GROWER, LEADER, make_clip  # noqa: E402

DETECTOR = "scrfd_2.5g_bnkps.onnx"


def face(x: float, y: float, width: float) -> Face:
    """A face record whose box starts at (x, y), with landmarks placed like a frontal face's."""
    relative = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
    return Face(box=(x, y, x + width, y + width * 1.25), score=0.9,
                landmarks=(np.array([x, y]) + relative * [width, width * 1.25]).astype(np.float32))


def follow(frames: list[list[Face]], indexes=(0,), settings=TrackerSettings()):
    tracker = FaceTracker(settings)
    selections = [select_faces(faces, "large-small", "no", list(indexes)) for faces in frames]
    return selections, [tracker.follow(selection) for selection in selections]


def test_tracker_keeps_the_person_when_the_size_order_flips():
    # a face walking right and shrinking, another growing: the size order flips after frame 2
    frames = [[face(100 + 12 * t, 100, 80 - 4 * t), face(400 - 5 * t, 120, 64 + 4 * t)] for t in range(9)]
    selections, tracked = follow(frames)
    assert [s.picked[0] is frames[t][0] for t, s in enumerate(selections)] == [True] * 3 + [False] * 6
    for t, (selection, (picks,)) in enumerate(tracked):
        assert selection.picked[0] is frames[t][0]
        assert picks.state == (PICKED if t == 0 else FOLLOWED) and picks.number == selections[t].candidates.index(
            frames[t][0])


def test_a_lost_face_is_reacquired_at_its_predicted_place_and_a_far_face_is_not_taken():
    moving = [face(100 + 20 * t, 200, 80) for t in range(10)]
    stranger = face(700, 40, 100)  # the largest face, far from where the tracked one should be
    frames = [[moving[t], face(500, 300, 60)] if t not in (4, 5, 6) else [stranger] for t in range(10)]
    _, tracked = follow(frames)
    states = [picks[0].state for _, picks in tracked]
    assert states == [PICKED, FOLLOWED, FOLLOWED, FOLLOWED, LOST, LOST, LOST, REACQUIRED, FOLLOWED, FOLLOWED]
    assert [picks[0].lost_for for _, picks in tracked][4:8] == [1, 2, 3, 3]
    assert tracked[7][0].picked[0] is moving[7] and tracked[5][0].picked == (None,)


def test_a_track_lost_for_longer_than_max_lost_ends():
    frames = [[face(100, 100, 80)]] + [[]] * 3 + [[face(100, 100, 80)]]
    _, tracked = follow(frames, settings=TrackerSettings(max_lost=2))
    assert [picks[0].state for _, picks in tracked] == [PICKED, LOST, LOST, ENDED, ENDED]
    assert tracked[4][0].picked == (None,)


def test_an_index_missing_in_the_first_frame_never_starts_a_track():
    frames = [[face(100, 100, 80)], [face(102, 100, 80), face(300, 100, 90)]]
    _, tracked = follow(frames, indexes=(0, 1))
    assert [p.state for p in tracked[1][1]] == [FOLLOWED, NOT_STARTED]
    assert tracked[1][0].picked[1] is None


@pytest.fixture(scope="module")
def clip():
    return make_clip(read_image_file(FACES / "group_6faces_t1.jpg"))


def who(clip, frame: int, box) -> str | None:
    """The photo's face whose known box in this frame the given box overlaps (IoU > 0.5)."""
    if box is None:
        return None
    name = max(GROUP_PHOTO_BOXES, key=lambda n: box_iou(np.asarray(box), np.asarray(clip.face_box(frame, n))))
    return name if box_iou(np.asarray(box), np.asarray(clip.face_box(frame, name))) > 0.5 else "?"


def picked_people(clip, faces) -> list[str | None]:
    return [who(clip, t, a.selection.picked[0].box if a.selection.picked[0] else None)
            for t, a in enumerate(faces.analyses)]


def test_the_clip_flips_the_size_order_hides_the_leader_and_loses_faces_at_the_edge(clip):
    assert sorted(clip.hidden) == [7, 8]
    assert all(clip.visible(t, "A") for t in (0, 1)) and not any(clip.visible(t, "A") for t in range(2, 12))
    assert not clip.visible(11, "B")


def test_detect_faces_with_track_faces_keeps_the_first_frames_person(clip, models_root, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(models_root))
    image = frames_to_image(clip.frames)
    untracked, _, _ = DetectFaces().detect(image, DETECTOR, "large-small", "no", "0")
    # the API's rule: the largest face in each frame, so the swapped person changes with the order
    assert picked_people(clip, untracked) == [LEADER] * 5 + [GROWER] * 7

    tracked, preview, info = DetectFaces().detect(image, DETECTOR, "large-small", "no", "0", track_faces=True)
    hidden = set(clip.hidden)
    assert picked_people(clip, tracked) == [None if t in hidden else LEADER for t in range(12)]
    lines = info.splitlines()
    assert lines[1] == "frame 0: track 0 (index 0 in the first frame): face 0, picked in the first frame"
    assert lines[1 + 6] == "frame 6: track 0 (index 0 in the first frame): face 1, followed"
    assert lines[1 + 7] == "frame 7: track 0 (index 0 in the first frame): lost for 1 frame(s)"
    assert lines[1 + 9] == "frame 9: track 0 (index 0 in the first frame): face 1, re-acquired after 2 frame(s)"
    assert tuple(preview.shape) == (12, 450, 800, 3)


def test_a_tracked_face_that_leaves_the_frame_is_not_replaced_by_its_neighbour(clip, models_root, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(models_root))
    image = frames_to_image(clip.frames[:5])
    untracked, _, _ = DetectFaces().detect(image, DETECTOR, "left-right", "no", "0")
    assert picked_people(clip, untracked)[:2] == ["A", "A"] and picked_people(clip, untracked)[4] == "B"
    tracked, _, info = DetectFaces().detect(image, DETECTOR, "left-right", "no", "0", track_faces=True)
    people = picked_people(clip, tracked)
    assert people[:2] == ["A", "A"] and people[4] is None
    assert "frame 4: track 0 (index 0 in the first frame): lost for" in info
    # the same words Swap Faces uses for that frame (test_the_whole_swap_with_track_faces...), not "asks for 0"
    assert "\nframe 4: no face followed for faces_index 0 (track_faces)" in info and "asks for" not in info


def green_people(clip, frames) -> list[set[str]]:
    """Per frame, the faces whose centre the solid green stand-in swapper painted."""
    out = []
    for t, frame in enumerate(frames):
        green = set()
        for name in GROUP_PHOTO_BOXES:
            x1, y1, x2, y2 = clip.face_box(t, name)
            cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
            if 0 <= cx < frame.shape[1] and 0 <= cy < frame.shape[0]:
                r, g, b = (int(v) for v in frame[cy, cx])
                if g > 200 and r < 60 and b < 60:
                    green.add(name)
        out.append(green)
    return out


def test_the_whole_swap_with_track_faces_swaps_the_same_person_in_every_frame(clip, swap_root):
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False), swapper_file="solid_green.onnx")
    params = FaceswapParams(facedetection=DETECTOR, face_restore_weight=0.0)
    source = read_image_file(FACES / "portrait_female_02.jpg")
    per_frame = run_faceswap(source, clip.frames, params, models)
    assert green_people(clip, per_frame.frames) == [{LEADER}] * 5 + [{GROWER}] * 7

    tracked = run_faceswap(source, clip.frames, params, models, track_faces=True)
    assert green_people(clip, tracked.frames) == [set() if t in clip.hidden else {LEADER} for t in range(12)]
    for t in clip.hidden:
        assert np.array_equal(tracked.frames[t], clip.frames[t])
    assert tracked.warnings == [f"frame {t}: no face followed for input_faces_index 0 (track_faces), left untouched"
                                for t in sorted(clip.hidden)]
    assert tracked.tracks[9] == "frame 9: track 0 (index 0 in the first frame): face 1, re-acquired after 2 frame(s)"


def test_track_faces_widget_is_last_and_off_by_default():
    for node, after in ((DetectFaces, []), (FaceswapV3, ["measure_similarity", "content_check", "image_format",
                                                         "image_quality"])):  # widgets added since come after
        optional = node.INPUT_TYPES()["optional"]
        assert list(optional)[-1 - len(after):] == ["track_faces", *after]
        assert optional["track_faces"][0] == "BOOLEAN" and optional["track_faces"][1]["default"] is False


def test_the_all_in_one_node_follows_the_leader_with_track_faces(clip, swap_root, tmp_path, monkeypatch):
    import standins

    (tmp_path / "insightface").mkdir()
    (tmp_path / "facedetection").symlink_to(swap_root / "facedetection", target_is_directory=True)
    (tmp_path / "insightface" / "models").symlink_to(swap_root / "insightface" / "models", target_is_directory=True)
    standins.inswapper(tmp_path / "insightface" / "inswapper_128.onnx", "solid", colour=(0.0, 1.0, 0.0))
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(tmp_path))
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    api = {"input_faces_index": "0", "source_faces_index": "0", "face_restore": "codeformer-v0.1.0.pth",
           "interpolation": "Bilinear", "detection_face_order": "large-small", "facedetection": DETECTOR,
           "detect_gender_input": "no", "detect_gender_source": "no", "face_restore_weight": 0.0,
           "image_format": "png", "image_quality": 95, "base64": False}
    frames = clip.frames[4:10]  # the size order flips and the leader hides in these
    image = named(FaceswapV3, FaceswapV3().swap(source, frames_to_image(frames), track_faces=True, **api))["image"]
    shifted = type(clip)(frames, clip.cameras[4:10], clip.zooms[4:10], {t - 4: f for t, f in clip.hidden.items()})
    assert green_people(shifted, image_to_frames(image)) == [
        set() if t + 4 in clip.hidden else {LEADER} for t in range(6)]
