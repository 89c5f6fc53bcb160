"""The content check's classifiers on real photos: FaceFusion's three analysers (stand-ins with their exact
interfaces) vote 2 of 3, nudenet (the real package) blocks none of the safe test photos, a broken model
file is named."""

from __future__ import annotations

import os

import numpy as np
import pytest

import standins
from support import FACES
from faceswap_v3.pipeline.content_check import ContentBlocked, ContentCheck, installed_check, load_check
from faceswap_v3.pipeline.content_check.facefusion_nsfw import ANALYSERS, FacefusionNsfw, letterbox
from faceswap_v3.pipeline.errors import ModelUnavailable
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore

MARKER = np.full((300, 300, 3), (255, 0, 255), np.uint8)  # what the stand-ins flag
SAFE_PHOTOS = sorted(p for p in FACES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def analysers(folder, flag_above=None) -> FacefusionNsfw:
    standins.content_analysers(folder, flag_above)
    return FacefusionNsfw({key: folder / spec.file for key, spec in ANALYSERS.items()})


def test_the_letterbox_keeps_the_aspect_ratio_centred_on_black():
    frame = letterbox(np.full((100, 200, 3), 200, np.uint8), 64)
    assert frame.shape == (64, 64, 3)
    assert (frame[:16] == 0).all() and (frame[48:] == 0).all() and (frame[16:48] == 200).all()


def test_the_marker_image_is_blocked_and_a_portrait_passes(tmp_path):
    check = ContentCheck(analysers(tmp_path))
    with pytest.raises(ContentBlocked) as blocked:
        check.require_allowed(MARKER, "target_img")
    assert blocked.value.reason == "content_blocked" and "target_img" in str(blocked.value)
    assert "3 of 3" in blocked.value.detail
    check.require_allowed(read_image_file(FACES / "portrait_female_01.jpg"), "target_img")


@pytest.mark.parametrize("flagging, blocked", [(("nsfw_1",), False), (("nsfw_2",), False), (("nsfw_3",), False),
                                               (("nsfw_1", "nsfw_3"), True), (("nsfw_2", "nsfw_3"), True)])
def test_two_of_the_three_analysers_must_agree(tmp_path, flagging, blocked):
    # flag_above -5: that analyser flags every image; the others flag only the marker
    classifier = analysers(tmp_path, {name: -5.0 for name in flagging})
    verdict = classifier.verdict(read_image_file(FACES / "portrait_male_01.jpg"))
    assert verdict.flagged is blocked and f"{len(flagging)} of 3" in verdict.detail


def test_a_corrupt_or_missing_analyser_is_named(tmp_path):
    standins.content_analysers(tmp_path / "content_analyser")
    (tmp_path / "content_analyser" / "nsfw_2.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelUnavailable, match="nsfw_2.onnx"):
        load_check("facefusion", ModelStore(models_root=tmp_path, allow_download=False))
    (tmp_path / "content_analyser" / "nsfw_2.onnx").unlink()
    with pytest.raises(ModelUnavailable, match="nsfw_2.onnx"):
        load_check("facefusion", ModelStore(models_root=tmp_path, allow_download=False))


def test_an_installed_classifier_is_found_without_downloading(tmp_path, swap_root):
    check = installed_check(ModelStore(models_root=swap_root, allow_download=False))
    assert check is not None and check.name in ("nudenet", "facefusion nsfw_1/2/3")


def _nudenet():
    if os.environ.get("CI") != "true":
        pytest.importorskip("nudenet")
    return load_check("nudenet", ModelStore(allow_download=False))


def test_nudenet_blocks_none_of_the_safe_photos(capsys):
    check = _nudenet()
    blocked = [path.name for path in SAFE_PHOTOS if check.verdict(read_image_file(path)).flagged]
    with capsys.disabled():
        print(f"\nnudenet false positives: {len(blocked)} of {len(SAFE_PHOTOS)} safe photos {blocked}")
    assert len(SAFE_PHOTOS) >= 40 and blocked == []


def test_nudenet_reads_rgb_frames():
    check = _nudenet()
    verdict = check.verdict(read_image_file(FACES / "portrait_male_02.jpg"))
    assert verdict.flagged is False and verdict.detail == "no blocked class found"


def test_a_huge_image_is_shrunk_before_it_is_classified(tmp_path):
    from faceswap_v3.pipeline.content_check.check import bounded

    huge = np.full((4100, 6000, 3), (255, 0, 255), np.uint8)
    assert bounded(huge, 2048).shape == (1399, 2048, 3) and bounded(MARKER, 2048) is MARKER
    assert ContentCheck(analysers(tmp_path)).verdict(huge).flagged
