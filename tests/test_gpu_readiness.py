"""What the first GPU run will measure, tested where a CPU can reach it: the IO-binding path (taken on CUDA
only) gives the plain path's pixels, the fp16 inswapper variant is recognised by its graph and picked on a
GPU where the user has it. Stand-in swappers: plumbing only, no quality claim."""

from __future__ import annotations

import numpy as np
import pytest

import standins
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap_models import DEFAULT_SWAPPER, SwapModels, swapper_for_device
from faceswap_v3.pipeline.swap.onnx_swapper import OnnxSwapper

FP16 = "inswapper_128_fp16.onnx"


@pytest.fixture(scope="module")
def tiles() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (16, 128, 128, 3), dtype=np.uint8)  # the 4 x 4 tiles of a 512 px boost


def test_io_binding_runs_every_tile_and_gives_the_plain_runs_pixels(swap_root, tiles):
    swapper = OnnxSwapper(swap_root / "insightface" / "latent_shift.onnx")
    assert swapper.io_device is None  # a CPU session: the plain path
    latent = swapper.latent(np.random.default_rng(1).standard_normal(512).astype(np.float32))
    plain = swapper.swap_tiles(tiles, latent)
    calls = []
    real_run = swapper.session.run_with_iobinding
    swapper.session.run_with_iobinding = lambda binding: calls.append(1) or real_run(binding)
    swapper.io_device = "cpu"  # what CUDA sets to "cuda": the same code, buffers in CPU memory
    bound = swapper.swap_tiles(tiles, latent)
    assert len(calls) == 16 and np.array_equal(bound, plain)
    assert not np.array_equal(plain, tiles)  # the latent moved the pixels: each tile met the source


def test_fp16_inswapper_is_recognised_by_its_graph_and_swaps_like_the_fp32_file(tmp_path, tiles):
    fp32 = OnnxSwapper(standins.inswapper(tmp_path / "inswapper_128.onnx", "identity"))
    fp16 = OnnxSwapper(standins.inswapper(tmp_path / FP16, "identity", fp16=True))
    assert fp16.interface == fp32.interface and fp16.interface.kind == "inswapper"
    assert fp16.emap.dtype == np.float32 and np.allclose(fp16.emap, fp32.emap, atol=1e-3)
    embedding = np.random.default_rng(2).standard_normal(512).astype(np.float32)
    out16, out32 = (m.swap_tiles(tiles, m.latent(embedding)) for m in (fp16, fp32))
    assert np.abs(out16.astype(int) - out32.astype(int)).max() <= 1  # float16 keeps 0..255 within a level


@pytest.mark.parametrize("name, on_gpu, has_fp16, chosen", [
    (DEFAULT_SWAPPER, True, True, FP16),
    (DEFAULT_SWAPPER, True, False, DEFAULT_SWAPPER),
    (DEFAULT_SWAPPER, False, True, DEFAULT_SWAPPER),  # float16 is slower on the CPU
    ("reswapper_128.onnx", True, True, "reswapper_128.onnx"),
])
def test_the_fp16_variant_is_used_on_a_gpu_where_the_user_has_it(name, on_gpu, has_fp16, chosen):
    assert swapper_for_device(name, on_gpu, lambda variant: has_fp16 and variant == FP16) == chosen


def test_on_the_cpu_the_named_swapper_loads_even_beside_an_fp16_file(tmp_path):
    root = tmp_path / "models"
    standins.inswapper(root / "insightface" / DEFAULT_SWAPPER, "identity")
    standins.inswapper(root / "insightface" / FP16, "identity", fp16=True)
    models = SwapModels(store=ModelStore(models_root=root, allow_download=False))
    assert models.swapper().name == DEFAULT_SWAPPER


def test_a_batch_of_frames_in_one_detector_call_finds_the_faces_found_one_by_one(store):
    from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_frames, analyze_image
    from faceswap_v3.pipeline.analysis.detectors import load_detector
    from faceswap_v3.pipeline.runtime.images import read_image_file
    from support import FACES

    group = read_image_file(FACES / "group_6faces_t1.jpg")
    frames = [group, np.roll(group, 40, axis=1), np.ascontiguousarray(group[:, ::-1]), np.full_like(group, 90)]
    detector = load_detector("retinaface_mobile0.25", store)
    calls = []
    real_net = detector.net.forward
    detector.net.forward = lambda x: calls.append(len(x)) or real_net(x)
    try:
        batched = detector.detect_batch(frames)
        assert calls == [4]
        singles = [detector.detect(rgb) for rgb in frames]
        request = AnalysisRequest("retinaface_mobile0.25", "left-right", "no", "0,2")
        calls.clear()
        analyses = list(analyze_frames(frames, request, store, batch=3))
        assert calls == [3, 1]
    finally:
        del detector.net.forward
    assert [len(f) for f in batched] == [len(f) for f in singles] and len(singles[0]) == 6 and singles[3] == []
    for ours, one in zip(batched, singles):
        for a, b in zip(ours, one):
            assert np.allclose(a.box, b.box, atol=0.01) and np.allclose(a.landmarks, b.landmarks, atol=0.01)
    expected = [analyze_image(rgb, request, store) for rgb in frames]
    for a, b in zip(analyses, expected):
        assert len(a.selection.picked) == len(b.selection.picked) == 2
        for x, y in zip(a.selection.picked, b.selection.picked):
            assert (x is None and y is None) or np.allclose(x.box, y.box, atol=0.01)
