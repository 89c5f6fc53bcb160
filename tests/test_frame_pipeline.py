"""Frame throughput without timing: the overlapped pipeline gives the sequential pipeline's exact frames,
frame k+1's analysis starts before frame k's swap is done (shown with events), and the restorer gets
faces in batches across frames. Stand-in swappers: plumbing only, no quality claim."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from support import FACES, REPO, restore_one_frame
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.analysis.detectors import load_detector
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.job import run_faceswap, source_embeddings, swap_frames
from faceswap_v3.pipeline.analysis.analyze import FaceSet
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.runtime.read_ahead import LazyFrames, read_ahead
from faceswap_v3.pipeline.restore.restore_queue import RestoreQueue
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.restore.restorer import restore_frames
from faceswap_v3.pipeline.swap_plan import Progress, SwapPlan

sys.path.insert(0, str(REPO / "bench"))
from synthetic_clip import make_clip  # noqa: E402

DETECTOR = "scrfd_2.5g_bnkps.onnx"
PATIENCE = 60  # seconds an event may take to come; only a broken pipeline ever waits this long


@pytest.fixture(scope="module")
def clip():
    return make_clip(read_image_file(FACES / "group_6faces_t1.jpg"), count=6, size=(640, 360))


@pytest.fixture(scope="module")
def models(swap_root):
    return SwapModels(store=ModelStore(models_root=swap_root, allow_download=False), swapper_file="latent_shift.onnx")


def test_read_ahead_starts_the_next_item_while_the_caller_holds_the_current_one():
    started = [threading.Event() for _ in range(5)]
    log = []

    def produce():
        for k in range(5):
            started[k].set()
            log.append(f"start {k}")
            yield k

    for k in read_ahead(produce()):
        if k + 1 < 5:
            assert started[k + 1].wait(PATIENCE), f"item {k + 1} did not start while item {k} was being used"
        log.append(f"used {k}")
    assert [line for line in log if line.startswith("used")] == [f"used {k}" for k in range(5)]
    assert all(log.index(f"start {k + 1}") < log.index(f"used {k}") for k in range(4))


def test_read_ahead_passes_the_producers_error_in_order():
    def produce():
        yield 0
        raise ValueError("frame 1 is broken")

    seen = []
    with pytest.raises(ValueError, match="frame 1 is broken"):
        for k in read_ahead(produce()):
            seen.append(k)
    assert seen == [0]


def params(**changes) -> FaceswapParams:
    return FaceswapParams(**{"facedetection": DETECTOR, "face_restore_weight": 0.0, "input_faces_index": "0,1,2",
                             **changes})


def test_pipelined_run_gives_the_sequential_runs_frames_bit_for_bit(clip, models):
    source = read_image_file(FACES / "group_2faces_women_7242.jpg")
    for track_faces in (False, True):
        sequential = run_faceswap(source, clip.frames, params(), models, track_faces=track_faces, pipelined=False)
        pipelined = run_faceswap(source, clip.frames, params(), models, track_faces=track_faces)
        assert len(pipelined.frames) == len(clip.frames)
        for before, a, b in zip(clip.frames, sequential.frames, pipelined.frames):
            assert np.array_equal(a, b)
            assert (a != before).any(axis=2).mean() > 0.01  # the faces really were swapped
        assert sequential.warnings == pipelined.warnings and sequential.tracks == pipelined.tracks


def test_lazy_frames_are_decoded_once_each_on_the_analysis_thread(clip, models):
    decoded = []

    def decode(i):
        decoded.append((i, threading.current_thread() is threading.main_thread()))
        return clip.frames[i]

    lazy = LazyFrames(len(clip.frames), clip.frames[0].shape, decode)
    source = read_image_file(FACES / "portrait_female_02.jpg")
    result = run_faceswap(source, lazy, params(input_faces_index="0"), models, pipelined=True)
    assert decoded == [(i, False) for i in range(len(clip.frames))]
    expected = run_faceswap(source, clip.frames, params(input_faces_index="0"), models)
    assert all(np.array_equal(a, b) for a, b in zip(result.frames, expected.frames))
    with pytest.raises(IndexError):
        lazy[len(clip.frames)]


def test_frame_k_plus_1_is_analysed_before_frame_k_swap_finishes(clip, models, monkeypatch):
    """Spies on the real detector and swapper: the swap of frame k waits until the analysis of frame
    k+1 has begun, which can only happen when the two overlap (a sequential run would never get there)."""
    detector = load_detector(DETECTOR, models.store, models.device)
    swapper = models.swapper()
    frames = clip.frames[:4]
    analysis_started = [threading.Event() for _ in frames]
    log, lock = [], threading.Lock()
    real_detect, real_swap = detector.detect, swapper.swap_tiles
    calls = {"detect": 0, "swap": 0}

    def detect(rgb):
        with lock:
            k = calls["detect"] - 1  # the source image is analysed first, as call 0
            calls["detect"] += 1
            log.append(("analyse", k))
        if k >= 0:
            analysis_started[k].set()
        return real_detect(rgb)

    def swap_tiles(tiles, latent):
        k = calls["swap"]  # one face per frame, one call per face at the default boost
        calls["swap"] += 1
        if pipelined and k + 1 < len(frames):
            assert analysis_started[k + 1].wait(PATIENCE), f"frame {k + 1} was not analysed during frame {k}'s swap"
        with lock:
            log.append(("swap done", k))
        return real_swap(tiles, latent)

    monkeypatch.setattr(detector, "detect", detect)
    monkeypatch.setattr(swapper, "swap_tiles", swap_tiles)
    source = read_image_file(FACES / "portrait_female_02.jpg")
    for pipelined in (True, False):
        log.clear()
        calls.update(detect=0, swap=0)
        for event in analysis_started:
            event.clear()
        run_faceswap(source, frames, params(input_faces_index="0"), models, pipelined=pipelined)
        order = {entry: n for n, entry in enumerate(log)}
        overlapped = [order[("analyse", k + 1)] < order[("swap done", k)] for k in range(len(frames) - 1)]
        assert overlapped == [pipelined] * (len(frames) - 1)


def test_cancel_stops_the_analysis_thread_after_the_frame_it_is_on(clip, models, monkeypatch):
    detector = load_detector(DETECTOR, models.store, models.device)
    real_detect, analysed = detector.detect, []
    monkeypatch.setattr(detector, "detect", lambda rgb: analysed.append(1) or real_detect(rgb))

    def cancel_after_frame_1(i):
        if i == 1:
            raise InterruptedError("cancelled")

    source = read_image_file(FACES / "portrait_female_02.jpg")
    with pytest.raises(InterruptedError):
        run_faceswap(source, clip.frames, params(input_faces_index="0"), models, after_frame=cancel_after_frame_1,
                     pipelined=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("faceswap-v3-read-ahead")]
    # the source, frames 0 and 1, and frame 2 if the worker had begun it before the cancel; never 3, 4 or 5
    assert 1 + 2 <= len(analysed) <= 1 + 3


def invert(crops: np.ndarray) -> np.ndarray:
    return 255 - crops


def test_restorer_gets_the_faces_of_several_frames_in_one_call_with_the_same_result(clip, models):
    request = AnalysisRequest(DETECTOR, "left-right", "no", "1,3")  # faces far enough apart not to overlap
    analyses = [analyze_image(frame, request, models.store) for frame in clip.frames]
    assert all(None not in a.selection.picked for a in analyses)
    source = FaceSet(AnalysisRequest(DETECTOR), clip.frames[0], [analyze_image(clip.frames[0], AnalysisRequest(DETECTOR), models.store)])
    embeddings = source_embeddings(source, models)
    batches = []

    def restore(frames, faces, masks=None, on_face=None):
        def counted(crops):
            batches.append(len(crops))
            return invert(crops)
        return restore_frames(frames, faces, counted, 1.0, "Bilinear", batch_faces, in_place=True)

    results, done = {}, []
    for batch_faces in (1, 5):
        batches.clear()
        plan = SwapPlan(models, embeddings, [0], [1, 3], restore=restore, restore_batch=batch_faces,
                        progress=Progress(after_frame=done.append))
        results[batch_faces] = swap_frames(clip.frames, analyses, plan).frames
        expected = [1] * 12 if batch_faces == 1 else [4, 4, 4]  # 6 frames x 2 faces, no frame split
        assert batches == expected
    assert done == list(range(6)) * 2
    for one_by_one, batched in zip(results[1], results[5]):
        assert np.array_equal(one_by_one, batched)
    # and it is what restoring one face at a time gives
    swapped = swap_frames(clip.frames, analyses, SwapPlan(models, embeddings, [0], [1, 3])).frames
    for frame, analysis, batched in zip(swapped, analyses, results[5]):
        for face in analysis.selection.picked:
            frame = restore_one_frame(frame, [face], lambda crop: 255 - crop, 1.0)
        assert np.array_equal(frame, batched)


def test_restore_queue_keeps_frame_order_and_passes_frames_without_faces():
    frames = [np.full((8, 8, 3), k, np.uint8) for k in range(5)]
    calls = []

    def restore(batch, faces, masks=None, on_face=None):
        calls.append([int(f[0, 0, 0]) for f in batch])
        return [f + 100 for f in batch]

    queue = RestoreQueue(restore, batch_faces=3)
    face = object()
    done = []
    for k, faces in enumerate([[face], [], [face], [face, face], []]):
        done += queue.push(k, frames[k], faces)
    done += queue.flush()
    assert [k for k, _ in done] == [0, 1, 2, 3, 4]
    assert [int(f[0, 0, 0]) for _, f in done] == [100, 1, 102, 103, 4]
    assert calls == [[0, 2], [3]]  # frame 3's two faces would not fit beside the two waiting
    with pytest.raises(BadInput, match="batch_faces must be a whole number of at least 1"):
        RestoreQueue(restore, 0)
