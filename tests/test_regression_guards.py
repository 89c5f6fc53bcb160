"""Guards for two API behaviours no other test pins down: each `interpolation` value really picks its own
resampling, and CodeFormer's fidelity really reaches the network. The restorers are stand-ins (an identity
function; a real-size CodeFormer with RANDOM weights): they show what changes, never restoration quality."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from support import FACES, restore_one_frame
from faceswap_v3.nodes.restore_face import RestoreFace
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.geometry.align import ffhq_matrix
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.options import INTERPOLATIONS
from faceswap_v3.pipeline.geometry.box_mask import box_mask
from faceswap_v3.pipeline.restore.restorer import RESTORE_SIZE

DETECTOR = "scrfd_2.5g_bnkps.onnx"


@pytest.fixture(scope="module")
def portrait(store):
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    faces = analyze_image(rgb, AnalysisRequest(DETECTOR), store).selection.candidates
    assert len(faces) == 1
    return rgb, faces[0]


@pytest.fixture(scope="module")
def identity_restored(portrait) -> dict[str, np.ndarray]:
    """The portrait through restore_frames with a restorer that returns its crop: all that changes the
    face is the warp into the 512 crop and back, done with each interpolation."""
    rgb, face = portrait
    return {name: restore_one_frame(rgb, [face], lambda crop: crop, 1.0, name) for name in INTERPOLATIONS}


def pasted_whole(rgb: np.ndarray, face) -> np.ndarray:
    """The frame pixels where the paste mask is fully 1: there the output is the crop warped back alone."""
    import cv2

    inverse = cv2.invertAffineTransform(ffhq_matrix(face.landmarks, RESTORE_SIZE))
    alpha = cv2.warpAffine(box_mask(RESTORE_SIZE), inverse, (rgb.shape[1], rgb.shape[0]),
                           flags=cv2.INTER_LINEAR, borderValue=0.0)
    return alpha > 0.999  # a blend weight this close to 1 rounds to the warped crop alone


def colour_codes(pixels: np.ndarray) -> np.ndarray:
    pixels = pixels.reshape(-1, 3).astype(np.int64)
    return pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]


def test_every_interpolation_resamples_the_face_its_own_way(portrait, identity_restored):
    rgb, face = portrait
    whole = pasted_whole(rgb, face)
    assert whole.sum() > 10_000  # the face is big enough for the comparison to mean something
    for a, b in combinations(INTERPOLATIONS, 2):
        differing = (identity_restored[a] != identity_restored[b]).any(axis=2)[whole].mean()
        assert differing > 0.05, (a, b, differing)


def test_nearest_only_copies_pixels_of_the_photo(portrait, identity_restored):
    rgb, face = portrait
    whole = pasted_whole(rgb, face)
    photo_colours = np.unique(colour_codes(rgb))
    in_photo = {name: np.isin(colour_codes(out[whole]), photo_colours).mean()
                for name, out in identity_restored.items()}
    assert in_photo["Nearest"] == 1.0, in_photo
    assert in_photo["Bilinear"] < 0.75, in_photo  # blending neighbours makes colours the photo does not have


def test_codeformer_fidelity_reaches_the_network(restorer_root, monkeypatch, portrait):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(restorer_root))
    rgb, face = portrait
    image = frames_to_image([rgb])
    by_fidelity = {fidelity: image_to_frames(RestoreFace().restore(image, "codeformer-v0.1.0.pth", 1.0, fidelity,
                                                                   "Bilinear", DETECTOR)[0])[0]
                   for fidelity in (0.0, 1.0)}
    whole = pasted_whole(rgb, face)
    differing = (by_fidelity[0.0] != by_fidelity[1.0]).any(axis=2)[whole].mean()
    assert differing > 0.3, differing
