"""Reference mode (pick target faces by identity) and face similarity, on the real couple and group photos.
The recognizer is a content-dependent stand-in whose embedding is stable for the same face crop (a crop of
the photo around one face, even rescaled, embeds close to that face): it proves selection and plumbing,
never recognition quality."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from support import FACES
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.face_model_nodes import BuildFaceModel
from faceswap_v3.nodes.face_similarity import FaceSimilarity
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.face import Face
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.analysis.reference import (Reference, ReferenceSelector, references_from_image,
                                                     select_by_reference)

DETECTOR = "scrfd_2.5g_bnkps.onnx"
API = dict(input_faces_index="0", source_faces_index="0", face_restore="codeformer-v0.1.0.pth",
           interpolation="Bilinear", detection_face_order="left-right", facedetection=DETECTOR,
           detect_gender_input="no", detect_gender_source="no", face_restore_weight=0.0, image_format="png",
           image_quality=95, base64=False)


@pytest.fixture(autouse=True)
def _models(monkeypatch, identity_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(identity_root))


@pytest.fixture(scope="module")
def models(identity_root):
    return SwapModels(store=ModelStore(models_root=identity_root, allow_download=False))


def faces_left_to_right(rgb, models) -> list[Face]:
    return list(analyze_image(rgb, AnalysisRequest(DETECTOR, "left-right"), models.store).selection.candidates)


def crop_around(rgb: np.ndarray, face: Face, scale: float = 1.0) -> np.ndarray:
    """The photo cut to one face with a face-sized margin each side, resized by scale: a new picture of
    that person only."""
    x1, y1, x2, y2 = map(int, face.box)
    w, h = x2 - x1, y2 - y1
    crop = rgb[max(0, y1 - h):y2 + h, max(0, x1 - w):x2 + w]
    return np.ascontiguousarray(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


def changed_inside(before: np.ndarray, after: np.ndarray, face: Face) -> float:
    x1, y1, x2, y2 = map(int, face.box)
    return float((before[y1:y2, x1:x2] != after[y1:y2, x1:x2]).any(axis=2).mean())


def unchanged_outside(before: np.ndarray, after: np.ndarray, face: Face, margin: float = 0.6) -> bool:
    """True when nothing changed outside the face's box grown by margin (where a paste may feather)."""
    x1, y1, x2, y2 = face.box
    w, h = x2 - x1, y2 - y1
    keep = np.ones(before.shape[:2], bool)
    keep[max(0, int(y1 - margin * h)):int(y2 + margin * h), max(0, int(x1 - margin * w)):int(x2 + margin * w)] = False
    return bool(np.array_equal(before[keep], after[keep]))


def test_select_by_reference_groups_faces_by_their_nearest_reference():
    axes = np.eye(512, dtype=np.float32)
    near = lambda i, j, w: (axes[i] + w * axes[j]) / np.linalg.norm(axes[i] + w * axes[j])  # noqa: E731
    faces = [Face((k * 10.0, 0, k * 10.0 + 5, 5), 0.9, np.zeros((5, 2))) for k in range(4)]
    embeddings = [near(0, 1, 0.1), near(1, 0, 0.9), axes[2], near(0, 3, 0.5)]
    references = [Reference(2, axes[0]), Reference(0, axes[1]), Reference(5, axes[7])]
    selection = select_by_reference(faces, embeddings, references, 0.5)
    # face 1 is within reach of both axes 0 and 1 but nearer axis 1; face 2 is nobody; reference 5 finds no one
    assert selection.labels == (2, 2, 0, 5)
    assert selection.picked[:3] == (faces[0], faces[3], faces[1]) and selection.picked[3] is None
    assert selection.missing == (5,) and selection.picked_positions == {0, 1, 3}
    assert selection.missing_reason == "no face within reference_distance 0.5 of reference face 5 (closest 1.00)"


def test_reference_mode_swaps_only_the_matching_face_on_the_couple_photo(models):
    couple = read_image_file(FACES / "couple_female_left_male_right.jpg")
    woman, man = faces_left_to_right(couple, models)
    for person, other in ((woman, man), (man, woman)):
        reference = frames_to_image([crop_around(couple, person, 0.7)])
        out = dict(zip(FaceswapV3.RETURN_NAMES, FaceswapV3().swap(
            frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")]), frames_to_image([couple]),
            reference_image=reference, face_selector="reference", **API)))
        swapped = image_to_frames(out["image"])[0]
        assert changed_inside(couple, swapped, person) > 0.5
        assert unchanged_outside(couple, swapped, person) and changed_inside(couple, swapped, other) == 0
        assert len(out["face_similarity"]) == 1


def test_reference_mode_follows_one_person_in_the_group_photo_whatever_their_index(models):
    group = read_image_file(FACES / "group_6faces_t1.jpg")
    faces = faces_left_to_right(group, models)
    assert len(faces) == 6
    person = faces[3]
    # Frame 2: the left part of the room hidden, so the person is no longer face 3 from the left.
    hidden = group.copy()
    hidden[:, :int(faces[2].box[2]) + 5] = 127
    frames = frames_to_image([group, hidden])
    reference = frames_to_image([crop_around(group, person, 0.8)])
    by_index = DetectFaces().detect(frames, DETECTOR, "left-right", "no", "3")[0]
    assert by_index.analyses[1].selection.picked[0] is None or \
        by_index.analyses[1].selection.picked[0].box != person.box
    face_model = BuildFaceModel().build(DETECTOR, "large-small", "no", "0", "mean", images=reference)[0]
    for references in ({"reference_image": reference}, {"reference_face_model": face_model}):
        found, preview, info = DetectFaces().detect(frames, DETECTOR, "left-right", "no", "0",
                                                    face_selector="reference", reference_distance=0.6, **references)
        assert "reference mode: faces matched per frame: 1, 1" in info
        for analysis in found.analyses:
            (picked,) = analysis.selection.picked
            assert np.allclose(picked.box, person.box, atol=2)
    swapped = SwapFaces().swap(frames, found, "solid_green.onnx",
                               source_image=frames_to_image([read_image_file(FACES / "portrait_male_02.jpg")]))[0]
    for before, after in zip((group, hidden), image_to_frames(swapped)):
        assert changed_inside(before, after, person) > 0.5 and unchanged_outside(before, after, person)


def test_no_frame_matching_the_reference_passes_the_batch_through_with_a_warning_per_frame(models):
    couple = read_image_file(FACES / "couple_female_left_male_right.jpg")
    stranger = read_image_file(FACES / "portrait_male_damon.jpg")
    request = AnalysisRequest(DETECTOR, "left-right", "no", "0", "input_faces_index")
    reference = ReferenceSelector(references_from_image(stranger, request, models), 0.6)
    result = run_faceswap(stranger, [couple, couple], FaceswapParams(**API, measure_similarity=True), models,
                          reference=reference)
    assert all(np.array_equal(frame, couple) for frame in result.frames)
    assert len(result.warnings) == 2
    for i, warning in enumerate(result.warnings):
        assert warning.startswith(f"frame {i}: no face within reference_distance 0.6 of reference face 0 (closest ")
        assert warning.endswith("), left untouched")
    assert result.face_similarities == [[], []] and all(math.isnan(v) for v in result.similarity_per_frame)


def test_reference_mode_refuses_bad_references_and_distances():
    couple = frames_to_image([read_image_file(FACES / "couple_female_left_male_right.jpg")])
    landscape = frames_to_image([read_image_file(FACES / "noface_landscape.jpg")])
    detect = lambda **kw: DetectFaces().detect(couple, DETECTOR, "left-right", "no", "0", **kw)  # noqa: E731
    with pytest.raises(BadInput, match="^no face found in the reference image"):
        detect(face_selector="reference", reference_image=landscape)
    with pytest.raises(BadInput, match="reference image has 2 faces after filtering; faces_index asks for 2"):
        DetectFaces().detect(couple, DETECTOR, "left-right", "no", "2", face_selector="reference",
                             reference_image=couple)
    with pytest.raises(BadInput, match="connect reference_image or reference_face_model, not both"):
        model = BuildFaceModel().build(DETECTOR, "large-small", "no", "0", "mean", images=couple)[0]
        detect(face_selector="reference", reference_image=couple, reference_face_model=model)
    for distance in (2.5, -0.1, True):
        with pytest.raises(BadInput, match="reference_distance must be a number from 0 to 2"):
            detect(face_selector="reference", reference_image=couple, reference_distance=distance)
    with pytest.raises(BadInput, match="reference_distance must be a number from 0 to 2"):
        FaceswapV3().swap(couple, couple, reference_distance=3.0, **API)
    with pytest.raises(BadInput, match="face_selector is reference but no reference is connected"):
        detect(face_selector="reference")
    with pytest.raises(BadInput, match="face_selector: 'nearest' is not one of the allowed values"):
        detect(face_selector="nearest")


def test_face_similarity_of_a_face_with_itself_is_one():
    portrait = read_image_file(FACES / "portrait_male_damon.jpg")
    other = read_image_file(FACES / "portrait_male_02.jpg")
    values, info = FaceSimilarity().compare(DETECTOR, "large-small", "0", "0", image_a=frames_to_image([portrait]),
                                            image_b=frames_to_image([portrait]))
    assert values == [pytest.approx(1.0, abs=1e-6)]
    values, info = FaceSimilarity().compare(DETECTOR, "large-small", "0", "0", image_a=frames_to_image([portrait]),
                                            image_b=frames_to_image([other, np.full_like(other, 90)]))
    assert values[0] < 0.5 and math.isnan(values[1]) and info.endswith(", no face")
    with pytest.raises(BadInput, match="Face Similarity needs image_a or face_model_a"):
        FaceSimilarity().compare(DETECTOR, "large-small", "0", "0", image_b=frames_to_image([portrait]))
    with pytest.raises(BadInput, match="Face Similarity needs image_b: connect the image"):
        FaceSimilarity().compare(DETECTOR, "large-small", "0", "0", image_a=frames_to_image([portrait]))


def test_swap_outputs_per_frame_similarity_to_the_source_when_asked():
    portrait = read_image_file(FACES / "portrait_male_damon.jpg")
    frames = frames_to_image([portrait, np.full_like(portrait, 90)])
    faces = DetectFaces().detect(frames, DETECTOR, "large-small", "no", "0")[0]
    same = frames_to_image([portrait])

    def swap(model: str, **kw) -> dict:
        return dict(zip(SwapFaces.RETURN_NAMES, SwapFaces().swap(frames, faces, model, source_image=same, **kw)))

    kept, painted = (swap(model, measure_similarity=True) for model in ("identity.onnx", "solid_green.onnx"))
    unmeasured = swap("identity.onnx")  # the default: not measured, NaN per frame, nothing in info
    assert all(math.isnan(v) for v in unmeasured["face_similarity"]) and len(unmeasured["face_similarity"]) == 2
    assert "face similarity" not in unmeasured["info"] and "face similarity per frame: 0: " in kept["info"]
    # identity swap of the face onto itself keeps the likeness; a green face has lost it; no face: NaN
    assert kept["face_similarity"][0] > 0.95 and painted["face_similarity"][0] < 0.5
    assert math.isnan(kept["face_similarity"][1])
    assert dict(zip(SwapFaces.RETURN_NAMES, SwapFaces.OUTPUT_IS_LIST)) == {"image": False, "info": False, "mask": False,
                                                                          "face_similarity": True}
    assert torch.equal(kept["image"][1], frames[1])


def test_reference_mode_on_a_frame_without_faces_says_so(models):
    couple = read_image_file(FACES / "couple_female_left_male_right.jpg")
    request = AnalysisRequest(DETECTOR, "left-right", "no", "1", "input_faces_index")
    reference = ReferenceSelector(references_from_image(couple, request, models))
    blank = np.full_like(couple, 90)
    result = run_faceswap(couple, [couple, blank], FaceswapParams(**API), models, reference=reference)
    assert result.warnings == ["frame 1: target has no face after filtering, left untouched"]
    assert np.array_equal(result.frames[1], blank) and not np.array_equal(result.frames[0], couple)
