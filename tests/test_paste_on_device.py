"""Paste-back on the restorer's device (pipeline/geometry/paste_torch.py): the frame sent once and written back once,
the crops blended and pasted with torch. Here torch runs it on the CPU, the same code a GPU runs; it must
give the frames the cv2 paste gives, but for cv2's sampling positions rounded to 1/32 pixel. Real photos,
real detections; an identity restorer and a real-size GFPGAN with random weights (plumbing, not quality)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support import FACES
from faceswap_v3.pipeline.geometry.align import ffhq_matrix, warp_crop
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.geometry.box_mask import box_mask
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.geometry.paste import crop_region, mask_support, paste_crop
from faceswap_v3.pipeline.geometry.paste_torch import frame_from_device, to_device, paste_crop_torch, paste_device
from faceswap_v3.pipeline.restore.restorer import restore_frames

DETECTOR = "scrfd_2.5g_bnkps.onnx"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def scene(store):
    """A real frame with its face, and another person's face aligned as the crop to paste over it."""
    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    face = analyze_image(rgb, AnalysisRequest(DETECTOR), store).selection.picked[0]
    other = read_image_file(FACES / "portrait_female_02.jpg")
    other_face = analyze_image(other, AnalysisRequest(DETECTOR), store).selection.picked[0]
    return rgb, face, warp_crop(other, ffhq_matrix(other_face.landmarks), 512)


def pasted_on_device(rgb, crop, matrix, flag, keep=None, coverage=None) -> np.ndarray:
    frame = to_device(rgb, CPU)
    keep_t = None if keep is None else torch.from_numpy(keep)
    coverage_t = None if coverage is None else torch.from_numpy(coverage)
    paste_crop_torch(frame, to_device(crop, CPU), matrix, flag, keep=keep_t, coverage=coverage_t)
    return frame_from_device(frame, np.empty_like(rgb))


@pytest.mark.parametrize("flag", [1, 2])  # Bilinear, Bicubic
def test_a_crop_pasted_with_torch_is_the_cv2_paste_within_its_sampling_rounding(scene, flag):
    rgb, face, crop = scene
    matrix = ffhq_matrix(face.landmarks)
    cv2_out = paste_crop(rgb, crop, matrix, flag)
    torch_out = pasted_on_device(rgb, crop, matrix, flag)
    changed = (cv2_out != rgb).any(axis=2)
    assert changed.mean() > 0.05                                    # the paste did change the face
    difference = np.abs(cv2_out.astype(int) - torch_out.astype(int))
    assert difference.mean() < 0.2 and np.percentile(difference, 99.9) <= 3
    x0, y0, x1, y1 = crop_region(matrix, mask_support(box_mask(512)), rgb.shape)
    outside = np.ones(rgb.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(torch_out[outside], rgb[outside])          # nothing outside the region moves


def test_nearest_picks_the_same_crop_pixel_almost_everywhere(scene):
    rgb, face, crop = scene
    matrix = ffhq_matrix(face.landmarks)
    differs = (paste_crop(rgb, crop, matrix, 0) != pasted_on_device(rgb, crop, matrix, 0)).any(axis=2)
    assert differs.mean() < 0.005


def test_keep_and_coverage_act_as_on_the_cpu_path(scene):
    rgb, face, crop = scene
    matrix = ffhq_matrix(face.landmarks)
    keep = np.ones(rgb.shape[:2], np.float32)
    keep[:, : rgb.shape[1] // 2] = 0.0                               # the left half never changes
    cv2_coverage, torch_coverage = (np.zeros(rgb.shape[:2], np.float32) for _ in range(2))
    cv2_out = paste_crop(rgb, crop, matrix, 1, keep=keep, coverage=cv2_coverage)
    torch_out = pasted_on_device(rgb, crop, matrix, 1, keep=keep, coverage=torch_coverage)
    half = rgb.shape[1] // 2
    assert np.array_equal(torch_out[:, :half], rgb[:, :half])
    assert (torch_out[:, half:] != rgb[:, half:]).any()
    assert np.abs(cv2_coverage - torch_coverage).max() < 0.03 and torch_coverage.max() > 0.99
    assert np.abs(cv2_out.astype(int) - torch_out.astype(int)).mean() < 0.2


@pytest.mark.parametrize("weight", [1.0, 0.5])
def test_restore_frames_on_a_device_gives_the_cpu_paths_frames(scene, weight):
    rgb, face, crop = scene
    white_on_device = lambda crops: torch.ones(crops.shape, dtype=torch.float32)  # noqa: E731
    white = lambda crops: np.full_like(crops, 255)  # noqa: E731
    frames = [rgb, rgb[:, ::-1].copy()]
    faces = [[face], []]
    cpu = restore_frames(frames, faces, white, weight)
    coverage = np.zeros(rgb.shape[:2], np.float32)
    device = restore_frames(frames, faces, white_on_device, weight, masks=[(None, coverage), (None, None)],
                            paste_on=CPU)
    assert device[1] is frames[1]                                    # a frame without faces is not sent
    assert not np.array_equal(device[0], rgb)
    assert np.abs(cpu[0].astype(int) - device[0].astype(int)).mean() < 0.2
    assert np.abs(cpu[0].astype(int) - device[0].astype(int)).max() <= 3
    assert coverage.max() > 0.99                                     # written back from the device


def test_a_real_size_restorer_leaves_its_crops_on_its_device_for_the_paste(scene, restorer_root):
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.swap_models import SwapModels

    rgb, face, _ = scene
    restorer = SwapModels(store=ModelStore(models_root=restorer_root, allow_download=False)).restorer("GFPGANv1.4.pth")
    on_device = restore_frames([rgb], [[face]], lambda crops: restorer.restore_on_device(crops, 0.5), 1.0,
                               paste_on=CPU)[0]
    on_cpu = restore_frames([rgb], [[face]], lambda crops: restorer.restore_batch(crops, 0.5), 1.0)[0]
    difference = np.abs(on_device.astype(int) - on_cpu.astype(int))
    assert (on_cpu != rgb).any() and difference.mean() < 0.3 and np.percentile(difference, 99.9) <= 4


def test_the_paste_moves_to_the_device_only_for_a_gpu_and_an_interpolation_grid_sample_has():
    cuda = torch.device("cuda", 0)
    assert paste_device(cuda, 1) == cuda and paste_device(cuda, 2) == cuda and paste_device(cuda, 0) == cuda
    assert paste_device(cuda, 4) is None                             # Lanczos: cv2 on the CPU
    assert paste_device(torch.device("cpu"), 1) is None and paste_device(None, 1) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_a_restored_job_pastes_there_with_the_cpu_paths_frames(scene, restorer_root):
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.swap_models import SwapModels

    rgb, face, _ = scene
    store = ModelStore(models_root=restorer_root, allow_download=False)
    gpu = SwapModels(store=store, device="cuda").restorer("GFPGANv1.4.pth")
    cpu = SwapModels(store=store, device="cpu").restorer("GFPGANv1.4.pth")
    assert paste_device(gpu.device, 1) is not None
    on_gpu = restore_frames([rgb], [[face]], lambda crops: gpu.restore_on_device(crops, 0.5), 1.0,
                            paste_on=gpu.device)[0]
    on_cpu = restore_frames([rgb], [[face]], lambda crops: cpu.restore_batch(crops, 0.5), 1.0)[0]
    assert np.abs(on_gpu.astype(int) - on_cpu.astype(int)).mean() < 0.5
