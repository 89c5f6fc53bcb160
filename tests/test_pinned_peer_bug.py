"""A bug the best-known peer shipped for years, mirrored (issue 28): with restoration on and several target
faces picked, only the last picked face came out swapped. Here, on a real photo with several faces, with
input_faces_index "0,1,2" and source_faces_index "0,1,2" and restoration on, every picked face is swapped
with its own source and restored, on one frame and on a batch: each face's pixels are the ones the same
face gets when it is the only one picked. Stand-ins (tests/standins.py): a content-dependent ArcFace, a
swapper whose output depends on the source's embedding, a random-weight GFPGAN; real SCRFD detection."""

from __future__ import annotations

import numpy as np
import pytest

from support import FACES
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.params import FaceswapParams

DETECTOR = "scrfd_2.5g_bnkps.onnx"
RESTORER = "GFPGANv1.4.pth"
PICKED = (0, 1, 2)


@pytest.fixture(scope="module")
def models(identity_root, restorer_root, tmp_path_factory) -> SwapModels:
    """identity_root's detectors, content-dependent recognizer and latent swapper, with restorer_root's GFPGAN."""
    root = tmp_path_factory.mktemp("peer-bug-models")
    for sub in ("facedetection", "insightface"):
        (root / sub).symlink_to(identity_root / sub, target_is_directory=True)
    (root / "facerestore_models").symlink_to(restorer_root / "facerestore_models", target_is_directory=True)
    return SwapModels(store=ModelStore(models_root=root, allow_download=False), swapper_file="latent_shift.onnx")


@pytest.fixture(scope="module")
def photos() -> tuple[np.ndarray, np.ndarray]:
    """A source with six faces and a target with eight (real group photos)."""
    return read_image_file(FACES / "group_6faces_t1.jpg"), read_image_file(FACES / "group_8_children.jpg")


WEIGHT = 0.5  # half swapped, half restored: each face's result shows both its swap and its restoration


def params(targets: str, sources: str, restore: bool) -> FaceswapParams:
    return FaceswapParams(facedetection=DETECTOR, input_faces_index=targets, source_faces_index=sources,
                          face_restore=RESTORER, face_restore_weight=WEIGHT if restore else 0.0)


def swapped(models, photos, targets: str, sources: str, restore: bool, frames: int = 1) -> tuple[list, list]:
    source, target = photos
    result = run_faceswap(source, [target] * frames, params(targets, sources, restore), models)
    return result.frames, result.faces_swapped


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 8


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to rounding and the faint feathered edge of a neighbour's paste (a face swapped from another
    source, or left unswapped, differs by tens of levels on average)."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return diff.mean() < 1.5 and np.percentile(diff, 99) <= 6


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() > 3.0


@pytest.fixture(scope="module")
def alone(models, photos) -> dict:
    """Per picked face k, the frame with face k the only one picked: swapped from source face k (restored,
    and not), and swapped from another source face (not restored); and the pixels face k alone changes."""
    target = photos[1]
    runs = {}
    for k in PICKED:
        restored = swapped(models, photos, str(k), str(k), True)[0][0]
        plain = swapped(models, photos, str(k), str(k), False)[0][0]
        other = swapped(models, photos, str(k), str((k + 1) % 3), False)[0][0]
        runs[k] = {"restored": restored, "plain": plain, "other": other, "region": changed(plain, target),
                   "reach": changed(plain, target) | changed(restored, target)}
    for k in PICKED:  # where another face's paste (restored or not) reaches, no face alone decides the pixels
        others = np.logical_or.reduce([runs[j]["reach"] for j in PICKED if j != k])
        runs[k]["region"] = runs[k]["region"] & ~others
    return runs


def check_every_face(frame: np.ndarray, plain: np.ndarray, alone: dict) -> None:
    for k in PICKED:
        region, single = alone[k]["region"], alone[k]
        assert region.sum() > 400, f"face {k} changes too few pixels to compare"
        assert differs(single["plain"][region], single["other"][region]), \
            f"face {k}: two sources give the same pixels, so its own source cannot be told"
        assert differs(single["restored"][region], single["plain"][region]), f"face {k}: restoring changes nothing"
        assert same(plain[region], single["plain"][region]), f"face {k} is not swapped from its own source"
        assert same(frame[region], single["restored"][region]), \
            f"face {k} is not swapped from its own source and restored, as it is when it is the only one picked"


def test_every_picked_face_is_swapped_with_its_own_source_and_restored_on_one_frame(models, photos, alone):
    restored, counts = swapped(models, photos, "0,1,2", "0,1,2", True)
    plain, _ = swapped(models, photos, "0,1,2", "0,1,2", False)
    assert counts == [3]
    check_every_face(restored[0], plain[0], alone)


def test_every_picked_face_is_swapped_with_its_own_source_and_restored_on_every_frame_of_a_batch(
        models, photos, alone):
    restored, counts = swapped(models, photos, "0,1,2", "0,1,2", True, frames=2)
    plain, _ = swapped(models, photos, "0,1,2", "0,1,2", False, frames=2)
    assert counts == [3, 3]
    for frame, plain_frame in zip(restored, plain):
        check_every_face(frame, plain_frame, alone)
