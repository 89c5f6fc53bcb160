"""Restoration: spandrel loads GFPGAN v1.3/v1.4- and CodeFormer-layout checkpoints (real-size networks,
RANDOM weights: loading and plumbing only, no quality claim); blending, interpolation and paste-back
are checked with an identity restorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support import FACES, psnr, restore_one_frame
from faceswap_v3.nodes.restore_face import RestoreFace
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.geometry.align import ffhq_matrix
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.errors import BadInput, ModelUnavailable
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.options import INTERPOLATIONS
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.geometry.box_mask import box_mask
from faceswap_v3.pipeline.geometry.paste import crop_region, mask_support

DETECTOR = "scrfd_2.5g_bnkps.onnx"



@pytest.fixture(scope="module")
def portrait(store):
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    face = analyze_image(rgb, AnalysisRequest(DETECTOR), store).selection.picked[0]
    return rgb, face


def outside_region(rgb, face) -> np.ndarray:
    x0, y0, x1, y1 = crop_region(ffhq_matrix(face.landmarks), mask_support(box_mask(512)), rgb.shape)
    mask = np.ones(rgb.shape[:2], bool)
    mask[y0:y1, x0:x1] = False
    return mask


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_identity_restorer_changes_nothing_outside_and_keeps_the_face(portrait, interpolation):
    rgb, face = portrait
    out = restore_one_frame(rgb, [face], lambda crop: crop, 1.0, interpolation)
    outside = outside_region(rgb, face)
    assert np.array_equal(out[outside], rgb[outside])
    x1, y1, x2, y2 = (int(v) for v in face.box)
    assert psnr(out[y1:y2, x1:x2], rgb[y1:y2, x1:x2]) >= 35.0


def test_weight_blends_restored_over_unrestored(portrait):
    rgb, face = portrait
    white = lambda crop: np.full_like(crop, 255)  # noqa: E731
    full = restore_one_frame(rgb, [face], white, 1.0).astype(float)
    half = restore_one_frame(rgb, [face], white, 0.5).astype(float)
    x1, y1, x2, y2 = (int(v) for v in face.box)
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    centre = (slice(cy - 10, cy + 10), slice(cx - 10, cx + 10))
    assert np.allclose(full[centre], 255, atol=1)
    # the unrestored half went through the 512 px crop and back, hence a few levels of tolerance
    assert np.allclose(half[centre], (255 + rgb[centre].astype(float)) / 2, atol=4)
    assert restore_one_frame(rgb, [face], white, 0.0) is rgb
    with pytest.raises(BadInput, match="interpolation: 'Area' is not one of"):
        restore_one_frame(rgb, [face], white, 1.0, "Area")


@pytest.mark.parametrize("name, architecture", [("GFPGANv1.4.pth", "GFPGAN"), ("GFPGANv1.3.pth", "GFPGAN"),
                                                ("codeformer-v0.1.0.pth", "CodeFormer")])
def test_spandrel_loads_the_restorer_layouts(restorer_root, name, architecture):
    models = SwapModels(store=ModelStore(models_root=restorer_root, allow_download=False))
    restorer = models.restorer(name)
    assert restorer.architecture == architecture
    crop = np.full((512, 512, 3), 128, np.uint8)
    (out,) = restorer.restore_batch(crop[None], 0.7)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8


def test_restore_face_node_runs_a_real_size_network_only_on_faces(restorer_root, monkeypatch, portrait):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(restorer_root))
    rgb, face = portrait
    (out,) = RestoreFace().restore(frames_to_image([rgb]), "codeformer-v0.1.0.pth", 1.0, 0.5, "Bicubic", DETECTOR)
    result = image_to_frames(out)[0]
    outside = outside_region(rgb, face)
    assert np.array_equal(result[outside], rgb[outside])
    assert (result != rgb).any(axis=2)[~outside].mean() > 0.3
    (unchanged,) = RestoreFace().restore(frames_to_image([rgb]), "GFPGANv1.4.pth", 0.0, 0.5, "Bilinear", DETECTOR)
    assert torch.equal(unchanged, frames_to_image([rgb]))


def test_weight_zero_loads_no_restorer(swap_root):
    # swap_root holds no restorer file at all: weight 0 must not even look for one
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))
    rgb = read_image_file(FACES / "portrait_male_02.jpg")
    params = FaceswapParams(facedetection=DETECTOR, face_restore_weight=0.0)
    assert len(run_faceswap(rgb, [rgb], params, models).frames) == 1
    with pytest.raises(ModelUnavailable, match="codeformer-v0.1.0.pth not found"):
        run_faceswap(rgb, [rgb], FaceswapParams(facedetection=DETECTOR), models)


def test_restore_model_spandrel_does_not_recognise(tmp_path):
    folder = tmp_path / "facerestore_models"
    folder.mkdir()
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, folder / "mystery.pth")
    models = SwapModels(store=ModelStore(models_root=tmp_path, allow_download=False))
    with pytest.raises(ModelUnavailable, match="^mystery.pth is not a model spandrel recognises"):
        models.restorer("mystery.pth")
