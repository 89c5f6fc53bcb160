"""Pixel boost and masks with stand-ins of inswapper_128's / HyperSwap's exact interfaces: which pixels
change, how sharp an identity round trip stays, the mask input and output. Stand-ins say nothing about
swap quality."""

from __future__ import annotations

import numpy as np
import pytest

import standins
from support import FACES, psnr
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.swap.face_masks import MaskOptions
from faceswap_v3.pipeline.geometry.box_mask import box_mask
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.options import BOOST_SIZES
from faceswap_v3.pipeline.swap.pixel_boost import merge_tiles, split_tiles
from faceswap_v3.pipeline.swap.frame_swap import swap_frame

DETECTOR = "scrfd_2.5g_bnkps.onnx"


def params(**changes) -> FaceswapParams:
    return FaceswapParams(**{"facedetection": DETECTOR, "face_restore_weight": 0.0, **changes})


@pytest.fixture(scope="module")
def store(swap_root):
    standins.hyperswap(swap_root / "hyperswap" / "hyperswap_1a_256.onnx", "solid")
    standins.inswapper(swap_root / "insightface" / "identity_dynamic_batch.onnx", "identity", batch=None)
    return ModelStore(models_root=swap_root, allow_download=False)


def models(store, swapper="inswapper_128.onnx") -> SwapModels:
    return SwapModels(store=store, swapper_file=swapper)


def first_face(rgb, store, order="large-small", index="0"):
    return analyze_image(rgb, AnalysisRequest(DETECTOR, order, "no", index), store).selection.picked[0]


def inside(shape, box, grow=0.0) -> np.ndarray:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * grow, (y2 - y1) * grow
    mask = np.zeros(shape[:2], bool)
    mask[max(0, int(y1 - dy)):int(y2 + dy) + 1, max(0, int(x1 - dx)):int(x2 + dx) + 1] = True
    return mask


def test_tiles_are_the_interleaved_sub_images_and_merge_back_exactly():
    crop = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    tiles = split_tiles(crop, 128)
    assert tiles.shape == (16, 128, 128, 3)
    for i in range(4):
        for j in range(4):
            assert np.array_equal(tiles[i * 4 + j], crop[i::4, j::4])
    assert np.array_equal(merge_tiles(tiles), crop)


def test_box_mask_is_a_read_only_feathered_rectangle_and_padding_moves_one_side():
    for size in (128, 512):
        mask = box_mask(size)
        assert mask[size // 2, size // 2] > 0.999 and mask[0].max() == mask[:, 0].max() == 0.0
        assert not mask.flags.writeable  # cached: one in-place edit would change every later paste
    padded = box_mask(512, 0.05, (0, 0, 20, 0))
    assert padded[400:, 256].max() < 1e-6 < box_mask(512)[400, 256]
    assert np.array_equal(padded[:200], box_mask(512)[:200])


def test_boost_512_keeps_large_faces_at_least_5_db_sharper_than_128(store):
    """Identity stand-in: every fixture portrait whose face is wider than 250 px, both sizes in one test."""
    identity = models(store).swapper()
    embedding = np.full(512, 1 / np.sqrt(512), np.float32)
    measured = []
    for path in sorted(FACES.glob("portrait_*")):
        rgb = read_image_file(path)
        face = first_face(rgb, store)
        if face is None or face.box[2] - face.box[0] <= 250:
            continue
        face_region = inside(rgb.shape, face.box)
        db = {}
        for boost in (128, 512):
            coverage = np.zeros(rgb.shape[:2], np.float32)
            out = swap_frame(rgb, [(face, embedding)], identity, boost, coverage=coverage)
            assert np.array_equal(out[coverage == 0], rgb[coverage == 0])  # nothing outside the paste changes
            assert coverage[face_region].mean() > 0.5
            db[boost] = psnr(out[face_region], rgb[face_region])
        measured.append((path.name, round(db[128], 1), round(db[512], 1)))
        assert db[512] >= db[128] + 5, measured
    assert len(measured) >= 10, measured


@pytest.mark.parametrize("boost", BOOST_SIZES)
def test_solid_stand_in_at_every_boost_size_changes_only_the_chosen_face(store, boost):
    target = read_image_file(FACES / "two_men.jpg")
    source = read_image_file(FACES / "portrait_female_02.jpg")
    out = run_faceswap(source, [target], params(input_faces_index="1", detection_face_order="left-right",
                                                 pixel_boost=boost), models(store, "solid_green.onnx"))
    left, right = analyze_image(target, AnalysisRequest(DETECTOR, "left-right"), store).selection.candidates
    changed = (out.frames[0] != target).any(axis=2)
    assert changed[inside(target.shape, right.box, -0.25)].mean() > 0.9
    assert not changed[inside(target.shape, left.box, 0.3)].any()
    assert not changed[~inside(target.shape, right.box, 0.6)].any()


def test_mask_output_covers_exactly_the_changed_pixels(store):
    target = read_image_file(FACES / "portrait_female_johansson.jpg")
    source = read_image_file(FACES / "portrait_male_damon.jpg")
    for boost in ("128x128", "512x512"):
        result = run_faceswap(source, [target], params(pixel_boost=boost), models(store, "solid_green.onnx"))
        covered, changed = result.masks[0] > 0, (result.frames[0] != target).any(axis=2)
        iou = (covered & changed).sum() / (covered | changed).sum()
        assert iou >= 0.95, (boost, iou)
        assert result.masks[0].dtype == np.float32 and result.masks[0].max() <= 1.0


def test_zero_mask_changes_nothing_and_half_mask_changes_only_its_half(store):
    target = read_image_file(FACES / "portrait_female_johansson.jpg")
    source = read_image_file(FACES / "portrait_male_damon.jpg")
    green = models(store, "solid_green.onnx")
    face = first_face(target, store)
    zero = run_faceswap(source, [target], params(pixel_boost="512x512"), green, mask=np.zeros(target.shape[:2]))
    assert np.array_equal(zero.frames[0], target) and zero.masks[0].max() == 0
    centre = int((face.box[0] + face.box[2]) / 2)
    half = np.zeros((1, *target.shape[:2]), np.float32)
    half[:, :, :centre] = 1.0
    out = run_faceswap(source, [target], params(), green, mask=half)
    changed = (out.frames[0] != target).any(axis=2)
    assert not changed[:, centre:].any()
    left_of_face = inside(target.shape, face.box, -0.25)
    left_of_face[:, centre:] = False
    assert changed[left_of_face].mean() > 0.9
    assert out.masks[0][:, centre:].max() == 0


def test_occlusion_mask_keeps_what_the_occluder_rejects(store, swap_root):
    standins.xseg(swap_root / "face_parsing" / "xseg_1.onnx")
    target = read_image_file(FACES / "portrait_female_johansson.jpg")
    source = read_image_file(FACES / "portrait_male_damon.jpg")
    green = models(store, "solid_green.onnx")
    box_only = run_faceswap(source, [target], params(), green)
    occluded = run_faceswap(source, [target], params(), green, masks=MaskOptions(("box", "occlusion")))
    assert (occluded.masks[0] <= box_only.masks[0] + 1e-6).all()
    assert occluded.masks[0].sum() < 0.98 * box_only.masks[0].sum()
    unchanged = (occluded.frames[0] == target).all(axis=2)
    assert (occluded.masks[0][unchanged] < 0.01).all()


def test_region_mask_is_parsed_from_the_swapped_crop(store, swap_root):
    from faceswap_v3.pipeline.geometry.align import swap_matrix, warp_crop
    from faceswap_v3.pipeline.geometry.paste import paste_crop

    standins.bisenet(swap_root / "face_parsing" / "bisenet_resnet_34.onnx")
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    green = models(store, "solid_green.onnx")
    face = first_face(rgb, store)
    embedding = np.full(512, 1 / np.sqrt(512), np.float32)
    masker = green.masker(MaskOptions(("box", "region"), regions=("skin", "nose", "mouth")))
    matrix = swap_matrix(face.landmarks, 256)
    target_crop = warp_crop(rgb, matrix, 256)
    swapped = np.zeros((256, 256, 3), np.uint8)
    swapped[:] = (0, 255, 0)  # what the stand-in returns
    from_swapped = masker.parser.mask(swapped, masker.options.regions)
    assert from_swapped.mean() > 0.9  # the stand-in parses flat green as skin
    assert not np.allclose(from_swapped, masker.parser.mask(target_crop, masker.options.regions))
    expected = np.zeros(rgb.shape[:2], np.float32)
    paste_crop(rgb, swapped, matrix, mask=np.minimum(box_mask(256), from_swapped), coverage=expected)
    coverage = np.zeros(rgb.shape[:2], np.float32)
    swap_frame(rgb, [(face, embedding)], green.swapper(), 256, masker, coverage=coverage)
    assert np.array_equal(coverage, expected)


def test_bad_input_is_one_clear_line(store):
    target = read_image_file(FACES / "two_men.jpg")
    source = read_image_file(FACES / "portrait_female_02.jpg")
    cases = [
        (dict(models=models(store, "hyperswap_1a_256.onnx")),
         r"^pixel_boost 128x128 is smaller than hyperswap_1a_256.onnx's 256x256 crop; choose 256x256, 512x512, "
         r"768x768, 1024x1024$"),
        (dict(models=models(store, "hyperswap_1a_256.onnx"), boost="384x384"),
         r"^pixel_boost 384x384 is not a multiple of hyperswap_1a_256.onnx's 256x256 crop"),
        (dict(mask=np.ones((100, 100), np.float32)),
         rf"^mask is 100x100 but the image is {target.shape[1]}x{target.shape[0]}; refused, not resized: "
         r"scale the mask to the image first$"),
        (dict(mask=np.ones((3, *target.shape[:2]), np.float32), frames=2),
         r"^mask has 3 frames but the image has 2; give one mask for all frames or one per frame$"),
    ]
    for case, message in cases:
        with pytest.raises(BadInput, match=message) as error:
            run_faceswap(source, [target] * case.get("frames", 1), params(pixel_boost=case.get("boost", "128x128")),
                         case.get("models", models(store)), mask=case.get("mask"))
        assert "\n" not in str(error.value)
    with pytest.raises(BadInput, match=r"^pixel_boost: '200x200' is not one of the allowed values \(128x128, "):
        params(pixel_boost="200x200")
    with pytest.raises(BadInput, match=r"^face_mask_types: 'hair' given; use a comma-separated list of box, "
                                       r"occlusion, region$"):
        MaskOptions.from_widgets(types="box,hair")


def test_hyperswap_at_256_swaps_and_pixel_boost_is_only_an_extension_of_the_api(store):
    target = read_image_file(FACES / "portrait_female_johansson.jpg")
    source = read_image_file(FACES / "portrait_male_damon.jpg")
    out = run_faceswap(source, [target], params(pixel_boost="256x256"), models(store, "hyperswap_1a_256.onnx"))
    face = first_face(target, store)
    centre = out.frames[0][int((face.box[1] + face.box[3]) / 2), int((face.box[0] + face.box[2]) / 2)]
    assert centre[1] > 200 and centre[0] < 60 and centre[2] < 60  # -1..1 output brought back to RGB
    assert "pixel_boost" not in params().to_mapping()
    assert params(pixel_boost="512x512").to_mapping()["pixel_boost"] == "512x512"
