"""Each swapper and mask-model interface against a reference written from FaceFusion's documented
formulas (face_swapper/core.py: prepare_crop_frame, normalize_crop_frame, prepare_source_embedding;
face_helper.py: the arcface_128 template; face_masker.py: create_occlusion_mask, create_region_mask),
and against insightface's INSwapper where it runs the model. Stand-ins of the exact interfaces; they
say nothing about quality."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import standins
from support import FACES
from faceswap_v3.pipeline.geometry.align import swap_matrix, warp_crop
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.errors import ModelUnavailable
from faceswap_v3.pipeline.swap.face_masks import REGION_IDS, Occluder, Parser
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap.onnx_swapper import OnnxSwapper, crops_to_input

# FaceFusion's face_helper.WARP_TEMPLATES['arcface_128'], normalised to the crop size
ARCFACE_128 = np.array([[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
                        [0.38710391, 0.72160547], [0.61507734, 0.72034453]])
# FaceFusion's model options: (template size, mean, std, output denormalised with mean/std)
FACEFUSION = {"inswapper": (0.0, 1.0, False), "reswapper": (0.0, 1.0, False), "hyperswap": (0.5, 0.5, True)}


def facefusion_matrix(landmarks, size):
    return cv2.estimateAffinePartial2D(landmarks.astype(np.float32), ARCFACE_128 * size, method=cv2.RANSAC,
                                       ransacReprojThreshold=100)[0]


def facefusion_prepare(bgr_crop, kind):
    mean, std, _ = FACEFUSION[kind]
    crop = bgr_crop[:, :, ::-1] / 255.0
    crop = (crop - mean) / std
    return np.expand_dims(crop.transpose(2, 0, 1), axis=0).astype(np.float32)


def facefusion_normalize(pred, kind):
    """Returns BGR float 0..255 as FaceFusion's normalize_crop_frame does."""
    mean, std, denormalise = FACEFUSION[kind]
    crop = pred.transpose(1, 2, 0)
    if denormalise:
        crop = crop * std + mean
    return crop.clip(0, 1)[:, :, ::-1] * 255


def facefusion_source(kind, normed_embedding, raw_embedding, emap):
    if kind == "hyperswap":
        return normed_embedding.reshape((1, -1))
    return np.dot(raw_embedding.reshape((1, -1)), emap) / np.linalg.norm(raw_embedding)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("interfaces")
    standins.inswapper(root / "inswapper_128.onnx", "latent", colour=(0.3, -0.3, 0.2))
    standins.inswapper(root / "reswapper_256.onnx", "latent", colour=(0.3, -0.3, 0.2), size=256)
    standins.hyperswap(root / "hyperswap_1b_256.onnx", "latent", colour=(0.6, -0.6, 0.4))
    standins.inswapper(root / "dynamic_128.onnx", "latent", colour=(0.3, -0.3, 0.2), batch=None)
    standins.inswapper(root / "swapper_512.onnx", "identity", size=512)
    standins.xseg(root / "xseg_1.onnx")
    standins.bisenet(root / "bisenet_resnet_34.onnx")
    return root


@pytest.fixture(scope="module")
def face_and_embedding(store):
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    face = analyze_image(rgb, AnalysisRequest("scrfd_2.5g_bnkps.onnx"), store).selection.picked[0]
    raw = np.random.default_rng(5).standard_normal(512).astype(np.float32) * 20  # an unnormalised ArcFace output
    return rgb, face, raw


@pytest.mark.parametrize("file, kind, size", [("inswapper_128.onnx", "inswapper", 128),
                                              ("reswapper_256.onnx", "reswapper", 256),
                                              ("hyperswap_1b_256.onnx", "hyperswap", 256)])
def test_crop_size_range_and_embedding_match_facefusion(folder, face_and_embedding, file, kind, size):
    rgb, face, raw = face_and_embedding
    normed = raw / np.linalg.norm(raw)
    swapper = OnnxSwapper(folder / file)
    assert (swapper.interface.kind, swapper.crop_size) == (kind, size)

    ours_matrix, theirs_matrix = swap_matrix(face.landmarks, size), facefusion_matrix(face.landmarks, size)
    points = np.hstack([face.landmarks, np.ones((5, 1))])
    assert np.abs(points @ ours_matrix.T - points @ theirs_matrix.T).max() < 0.05  # same template, < 0.05 px

    crop = warp_crop(rgb, ours_matrix, size)
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    assert np.allclose(crops_to_input(crop[None], swapper.interface.signed), facefusion_prepare(bgr, kind), atol=1e-6)

    latent = swapper.latent(normed)
    reference_source = facefusion_source(kind, normed, raw, swapper.emap)
    # FaceFusion feeds the emap product unnormalised; insightface (and we) renormalise it: same direction
    assert np.allclose(latent, reference_source / np.linalg.norm(reference_source), atol=1e-6)
    if kind == "hyperswap":
        assert np.allclose(latent, reference_source, atol=1e-6)

    ours = swapper.swap_tiles(crop[None], latent)[0]
    pred = swapper.session.run(None, {"target": facefusion_prepare(bgr, kind),
                                      "source": latent.astype(np.float32)})[0][0]
    theirs_rgb = facefusion_normalize(pred, kind)[:, :, ::-1]
    assert np.abs(ours.astype(np.float64) - theirs_rgb).max() <= 1.0
    assert np.abs(ours.astype(int) - crop.astype(int)).mean() > 5  # the source really moved the output


def test_reswapper_256_equals_insightface_inswapper_at_its_size(folder, face_and_embedding):
    from insightface.app.common import Face as InsightFace
    from insightface.model_zoo.inswapper import INSwapper

    rgb, face, raw = face_and_embedding
    normed = raw / np.linalg.norm(raw)
    ours = OnnxSwapper(folder / "reswapper_256.onnx")
    theirs = INSwapper(model_file=str(folder / "reswapper_256.onnx"))
    source = InsightFace(bbox=np.asarray(face.box), kps=face.landmarks)
    source["embedding"] = raw
    fake_bgr, matrix = theirs.get(np.ascontiguousarray(rgb[:, :, ::-1]),
                                  InsightFace(bbox=np.asarray(face.box), kps=face.landmarks), source, paste_back=False)
    assert np.allclose(matrix, swap_matrix(face.landmarks, 256), atol=1e-3)
    crop = ours.swap_tiles(warp_crop(rgb, swap_matrix(face.landmarks, 256), 256)[None], ours.latent(normed))[0]
    assert np.abs(fake_bgr[:, :, ::-1].astype(int) - crop.astype(int)).max() <= 1


def test_a_dynamic_batch_swaps_all_pixel_boost_tiles_in_one_call(folder, face_and_embedding):
    rgb, face, raw = face_and_embedding
    dynamic, fixed = OnnxSwapper(folder / "dynamic_128.onnx"), OnnxSwapper(folder / "inswapper_128.onnx")
    assert dynamic.interface.batch_dynamic and not fixed.interface.batch_dynamic
    tiles = np.random.default_rng(1).integers(0, 256, (16, 128, 128, 3), dtype=np.uint8)
    latent = dynamic.latent(raw / np.linalg.norm(raw))
    calls = []

    class CountingSession:  # the real session, counted
        def __init__(self, session):
            self.session = session

        def run(self, *args):
            calls.append(len(args[1]["target"]))
            return self.session.run(*args)

    dynamic.session = CountingSession(dynamic.session)
    batched = dynamic.swap_tiles(tiles, latent)
    assert calls == [16]
    assert np.array_equal(batched, np.stack([dynamic.swap_tiles(t[None], latent)[0] for t in tiles]))


def test_an_unknown_interface_is_refused_naming_what_was_expected(folder):
    with pytest.raises(ModelUnavailable, match=r"^swapper_512.onnx does not have a swapper interface this pack "
                                               r"knows: expected .*HyperSwap \(inputs target \[1,3,256,256\] RGB "
                                               r"-1..1 and source \[1,512\].*; got inputs \[\[1, 3, 512, 512\], "
                                               r"\[1, 512\]\], outputs \[\[1, 3, 512, 512\]\], an emap$"):
        OnnxSwapper(folder / "swapper_512.onnx")


def facefusion_occlusion(session, bgr_crop):
    frame = cv2.resize(bgr_crop, (256, 256))
    frame = np.expand_dims(frame, axis=0).astype(np.float32) / 255.0
    mask = session.run(None, {"input": frame})[0][0]
    mask = mask.clip(0, 1).astype(np.float32)
    mask = cv2.resize(mask, bgr_crop.shape[:2][::-1])
    return (cv2.GaussianBlur(mask.clip(0, 1), (0, 0), 5).clip(0.5, 1) - 0.5) * 2


def facefusion_region(session, bgr_crop, regions):
    frame = cv2.resize(bgr_crop, (512, 512))
    frame = frame[:, :, ::-1].astype(np.float32) / 255.0
    frame = (frame - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    frame = np.expand_dims(frame, axis=0).transpose(0, 3, 1, 2)
    logits = session.run(None, {"input": frame})[0][0]
    mask = np.isin(logits.argmax(0), [REGION_IDS[r] for r in regions])
    mask = cv2.resize(mask.astype(np.float32), bgr_crop.shape[:2][::-1])
    return (cv2.GaussianBlur(mask.clip(0, 1), (0, 0), 5).clip(0.5, 1) - 0.5) * 2


def test_xseg_and_bisenet_masks_match_facefusions_formulas(folder, face_and_embedding):
    rgb, face, _ = face_and_embedding
    crop = warp_crop(rgb, swap_matrix(face.landmarks, 512), 512)
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    occluder = Occluder(folder / "xseg_1.onnx")
    ours = occluder.mask(crop)
    assert np.allclose(ours, facefusion_occlusion(occluder.session, bgr), atol=1e-5)
    assert 0.01 < ours.mean() < 0.99
    wrong_order = Occluder.prepare(crop[:, :, ::-1].copy())  # RGB fed as BGR gives another mask
    assert not np.allclose(wrong_order, Occluder.prepare(crop))
    parser = Parser(folder / "bisenet_resnet_34.onnx")
    for regions in (tuple(REGION_IDS), ("skin", "nose")):
        ours = parser.mask(crop, regions)
        assert np.allclose(ours, facefusion_region(parser.session, bgr, regions), atol=1e-5)
    with pytest.raises(ModelUnavailable, match=r"^inswapper_128.onnx is not an XSeg occlusion model: expected input "
                                               r"\[1,256,256,3\] and output \[1,256,256,1\], got inputs"):
        Occluder(folder / "inswapper_128.onnx")


def test_swappers_are_found_in_reactors_folders(swap_root):
    from faceswap_v3.pipeline.swap_models import SwapModels

    standins.inswapper(swap_root / "reswapper" / "reswapper_256.onnx", "identity", size=256)
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False),
                        swapper_file="reswapper_256.onnx")
    assert models.swapper().interface.kind == "reswapper"


def test_mask_models_are_registered_and_hyperswap_is_never_downloaded(tmp_path):
    from faceswap_v3.pipeline.swap_models import SwapModels
    from faceswap_v3.pipeline.models.registry import MODEL_FILES, OCCLUDER_FILES, PARSER_FILES

    assert {MODEL_FILES[name].folder for name in OCCLUDER_FILES + PARSER_FILES} == {"face_parsing"}
    assert not any("hyperswap" in name or "hyperswap" in entry.url for name, entry in MODEL_FILES.items())
    models = SwapModels(store=ModelStore(models_root=tmp_path), swapper_file="hyperswap_1a_256.onnx")
    with pytest.raises(ModelUnavailable, match=r"^model file hyperswap_1a_256.onnx not found \(looked in: .*"
                                               r"hyperswap"):
        models.swapper()
