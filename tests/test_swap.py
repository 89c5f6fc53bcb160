"""Swapping with stand-in models of inswapper_128's exact interface: geometry, the emap transform,
which pixels change, pairing and batches. Stand-ins say nothing about swap quality."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from support import FACES, psnr
from faceswap_v3.pipeline.geometry.align import arcface_matrix, warp_crop
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.errors import BadInput, ModelUnavailable
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap import face_masks
from faceswap_v3.pipeline.geometry.paste import crop_region, mask_support
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.swap.frame_swap import swap_frame
from faceswap_v3.pipeline.swap.onnx_swapper import OnnxSwapper

DETECTOR = "scrfd_2.5g_bnkps.onnx"


def params(**changes) -> FaceswapParams:
    return FaceswapParams(**{"facedetection": DETECTOR, "face_restore_weight": 0.0, **changes})



def box_mask(shape, box, grow: float = 0.0) -> np.ndarray:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * grow, (y2 - y1) * grow
    mask = np.zeros(shape[:2], bool)
    mask[max(0, int(y1 - dy)):int(y2 + dy) + 1, max(0, int(x1 - dx)):int(x2 + dx) + 1] = True
    return mask


@pytest.fixture(scope="module")
def models(swap_root):
    return SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))


def insight_face(face, embedding=None):
    from insightface.app.common import Face as InsightFace

    record = InsightFace(bbox=np.asarray(face.box, np.float32), kps=face.landmarks)
    if embedding is not None:
        record["embedding"] = embedding
    return record


def test_identity_swap_is_exact_outside_the_face_and_at_least_as_sharp_as_insightface(models, swap_root):
    from insightface.model_zoo import get_model

    rgb = read_image_file(FACES / "large_4352x2903_female.jpg")
    face = analyze_image(rgb, AnalysisRequest(DETECTOR), models.store).selection.picked[0]
    embedding = models.recognizer().embed(rgb, face)
    ours = swap_frame(rgb, [(face, embedding)], models.swapper())

    x0, y0, x1, y1 = crop_region(arcface_matrix(face.landmarks, 128), mask_support(face_masks.box_mask(128)), rgb.shape)
    outside = np.ones(rgb.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(ours[outside], rgb[outside])
    changed = (ours != rgb).any(axis=2)
    assert changed[y0:y1, x0:x1].mean() > 0.2

    theirs = get_model(str(swap_root / "insightface" / "inswapper_128.onnx"))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    reference = theirs.get(bgr, insight_face(face), insight_face(face, embedding), paste_back=True)[:, :, ::-1]
    inside = box_mask(rgb.shape, face.box)
    ours_db, theirs_db = psnr(ours[inside], rgb[inside]), psnr(reference[inside], rgb[inside])
    assert ours_db >= theirs_db, (ours_db, theirs_db)
    assert ours_db > 27


def test_emap_transform_and_scaling_match_insightface(models, swap_root):
    from insightface.model_zoo import get_model

    path = swap_root / "insightface" / "latent_shift.onnx"
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    source = read_image_file(FACES / "portrait_female_02.jpg")
    face = analyze_image(rgb, AnalysisRequest(DETECTOR), models.store).selection.picked[0]
    source_face = analyze_image(source, AnalysisRequest(DETECTOR), models.store).selection.picked[0]
    embedding = models.recognizer().embed(source, source_face)

    ours = OnnxSwapper(path)
    crop = ours.swap_tiles(warp_crop(rgb, arcface_matrix(face.landmarks, 128), 128)[None], ours.latent(embedding))[0]
    theirs = get_model(str(path))
    fake_bgr, matrix = theirs.get(np.ascontiguousarray(rgb[:, :, ::-1]), insight_face(face),
                                  insight_face(source_face, embedding), paste_back=False)
    assert np.allclose(matrix, arcface_matrix(face.landmarks, 128), atol=1e-3)
    assert np.abs(fake_bgr[:, :, ::-1].astype(int) - crop.astype(int)).max() <= 1
    # and the latent really matters: another identity gives another crop
    other = ours.swap_tiles(warp_crop(rgb, arcface_matrix(face.landmarks, 128), 128)[None], ours.latent(-embedding))[0]
    assert np.abs(other.astype(int) - crop.astype(int)).mean() > 5


def changed_fraction(before, after, mask) -> float:
    return float(((before != after).any(axis=2) & mask).sum() / max(1, mask.sum()))


def test_solid_swapper_changes_only_the_chosen_faces_of_eight_children(models):
    target = read_image_file(FACES / "group_8_children.jpg")
    source = read_image_file(FACES / "portrait_female_02.jpg")
    green = SwapModels(store=models.store, swapper_file="solid_green.onnx")
    p = params(input_faces_index="0,3,5", detection_face_order="left-right")
    out = run_faceswap(source, [target], p, green).frames[0]
    faces = analyze_image(target, AnalysisRequest(DETECTOR, "left-right", "no", "0"), models.store).selection.candidates
    assert len(faces) == 8
    for i, face in enumerate(faces):
        inner = box_mask(target.shape, face.box, grow=-0.25)
        fraction = changed_fraction(target, out, inner)
        if i in (0, 3, 5):
            assert fraction > 0.9, (i, fraction)
        else:
            assert fraction < 0.02, (i, fraction)
    near_chosen = np.zeros(target.shape[:2], bool)
    for i in (0, 3, 5):
        near_chosen |= box_mask(target.shape, faces[i].box, grow=0.6)
    assert changed_fraction(target, out, ~near_chosen) == 0.0


def test_solid_swapper_on_a_single_face_changes_only_that_face(models):
    target = read_image_file(FACES / "portrait_female_johansson.jpg")
    source = read_image_file(FACES / "portrait_male_damon.jpg")
    green = SwapModels(store=models.store, swapper_file="solid_green.onnx")
    out = run_faceswap(source, [target], params(), green).frames[0]
    (face,) = analyze_image(target, AnalysisRequest(DETECTOR), models.store).selection.candidates
    assert changed_fraction(target, out, box_mask(target.shape, face.box, grow=-0.25)) > 0.9
    centre = out[int((face.box[1] + face.box[3]) / 2), int((face.box[0] + face.box[2]) / 2)]
    assert centre[1] > 200 and centre[0] < 60 and centre[2] < 60  # the stand-in's green
    assert changed_fraction(target, out, ~box_mask(target.shape, face.box, grow=0.6)) == 0.0


def test_gender_filter_picks_the_woman_of_the_couple(models):
    target = read_image_file(FACES / "couple_female_left_male_right.jpg")
    source = read_image_file(FACES / "portrait_male_damon.jpg")
    green = SwapModels(store=models.store, swapper_file="solid_green.onnx")
    out = run_faceswap(source, [target], params(detect_gender_input="female"), green).frames[0]
    woman, man = analyze_image(target, AnalysisRequest(DETECTOR, "left-right", "no", "0"),
                               models.store).selection.candidates
    assert changed_fraction(target, out, box_mask(target.shape, woman.box, -0.25)) > 0.9
    assert changed_fraction(target, out, box_mask(target.shape, man.box, -0.1)) == 0.0


def test_pairing_k_th_source_to_k_th_target(models):
    target = read_image_file(FACES / "two_men.jpg")
    source = read_image_file(FACES / "group_2faces_women_7242.jpg")
    shifted = SwapModels(store=models.store, swapper_file="latent_shift.onnx")
    both = run_faceswap(source, [target], params(source_faces_index="1,0", input_faces_index="0,1",
                                                 detection_face_order="left-right"), shifted).frames[0]
    first_only = run_faceswap(source, [target], params(source_faces_index="1", input_faces_index="0",
                                                       detection_face_order="left-right"), shifted).frames[0]
    second_only = run_faceswap(source, [target], params(source_faces_index="0", input_faces_index="1",
                                                        detection_face_order="left-right"), shifted).frames[0]
    left, right = analyze_image(target, AnalysisRequest(DETECTOR, "left-right", "no", "0"),
                                models.store).selection.candidates
    for face, single in ((left, first_only), (right, second_only)):
        region = box_mask(target.shape, face.box)
        assert np.array_equal(both[region], single[region])
        assert changed_fraction(target, both, region) > 0.5
    broadcast = run_faceswap(source, [target], params(source_faces_index="1", input_faces_index="0,1",
                                                      detection_face_order="left-right"), shifted).frames[0]
    assert np.array_equal(broadcast[box_mask(target.shape, left.box)], both[box_mask(target.shape, left.box)])
    assert not np.array_equal(broadcast[box_mask(target.shape, right.box)], both[box_mask(target.shape, right.box)])


def test_pairing_and_index_errors(models):
    target = read_image_file(FACES / "two_men.jpg")
    source = read_image_file(FACES / "group_2faces_women_7242.jpg")
    with pytest.raises(BadInput, match="source_faces_index has 2 indexes and input_faces_index has 3"):
        run_faceswap(source, [target], params(source_faces_index="0,1", input_faces_index="0,1,2"), models)
    with pytest.raises(BadInput, match="^source has 2 faces after filtering; source_faces_index asks for 3$"):
        run_faceswap(source, [target], params(source_faces_index="3"), models)
    result = run_faceswap(source, [target], params(input_faces_index="0,4", source_faces_index="0"), models)
    assert result.warnings == ["target has only 2 face(s) after filtering; input_faces_index asks for 4, "
                               "left untouched"]
    assert not np.array_equal(result.frames[0], target)


def test_no_face_in_source_is_an_error_and_no_face_in_target_passes_through(models):
    portrait = read_image_file(FACES / "portrait_male_02.jpg")
    landscape = read_image_file(FACES / "noface_landscape.jpg")
    with pytest.raises(BadInput, match="^no face found in the source image"):
        run_faceswap(landscape, [portrait], params(), models)
    result = run_faceswap(portrait, [landscape], params(), models)
    assert np.array_equal(result.frames[0], landscape)
    assert result.warnings == ["target has no face after filtering; input_faces_index asks for 0, left untouched"]


def test_sixteen_frame_batch_embeds_the_source_once_and_swaps_every_frame(models, monkeypatch):
    frame = cv2.resize(read_image_file(FACES / "portrait_male_damon.jpg"), (300, 400), interpolation=cv2.INTER_AREA)
    frames = [np.roll(frame, shift, axis=1) for shift in range(0, 32, 2)]
    source = read_image_file(FACES / "portrait_female_02.jpg")
    green = SwapModels(store=models.store, swapper_file="solid_green.onnx")
    recognizer = green.recognizer()
    embedded = []
    embed = recognizer.embed
    monkeypatch.setattr(recognizer, "embed", lambda rgb, face: embedded.append(face) or embed(rgb, face))
    seen = []
    result = run_faceswap(source, frames, params(), green, after_frame=seen.append)
    assert len(embedded) == 1  # the source, once
    assert seen == list(range(16)) and len(result.frames) == 16
    embedded.clear()
    measured = run_faceswap(source, frames, params(measure_similarity=True), green)
    # the source once, then each swapped face once to measure its similarity to the source
    assert len(embedded) == 1 + 16 and len(measured.face_similarities) == 16
    assert all(np.array_equal(a, b) for a, b in zip(result.frames, measured.frames))
    for original, swapped in zip(frames, result.frames):
        assert (original != swapped).any(axis=2).mean() > 0.05


def test_batch_of_frames_of_different_sizes_is_refused(models):
    a = read_image_file(FACES / "portrait_male_02.jpg")
    with pytest.raises(BadInput, match=r"target frames differ in size \(740x418, 741x418\)"):
        run_faceswap(a, [a, np.zeros((418, 741, 3), np.uint8)], params(), models)


def test_swapper_with_the_wrong_interface_names_file_and_expectation(models):
    wrong = SwapModels(store=models.store, swapper_file="not_a_swapper.onnx")
    rgb = read_image_file(FACES / "portrait_male_02.jpg")
    with pytest.raises(ModelUnavailable, match=r"^not_a_swapper.onnx does not have a swapper interface this pack "
                                               r"knows: expected inswapper_128 / ReSwapper \(inputs target \[1,3,S,S\]"
                                               r".*got inputs \[\[1, 3, 64, 64\]\], outputs \[\[1, 3, 64, 64\]\], "
                                               r"no emap$"):
        run_faceswap(rgb, [rgb], params(), wrong)


def test_parameters_are_validated_with_the_reason():
    with pytest.raises(BadInput, match="face_restore_weight must be a number from 0 to 1, got 1.5"):
        FaceswapParams(face_restore_weight=1.5)
    with pytest.raises(BadInput, match="image_quality must be a whole number from 10 to 100, got 5"):
        FaceswapParams(image_quality=5)
    with pytest.raises(BadInput, match="image_format: 'gif' is not one of the allowed values"):
        FaceswapParams(image_format="gif")
    with pytest.raises(BadInput, match="facedetection: 'mtcnn' is not one of"):
        FaceswapParams(facedetection="mtcnn")
    with pytest.raises(BadInput, match="unknown parameter\\(s\\): face_count"):
        FaceswapParams.from_mapping({"face_count": 2})
    with pytest.raises(BadInput, match="input_faces_index: 'a' is not a face index"):
        FaceswapParams(input_faces_index="a")
