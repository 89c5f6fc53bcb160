"""A cluster worker running several jobs at once merges their calls of a model that takes a batch
(server/batching_model_cache.py): real RetinaFace weights on real photos, an ArcFace-interface recognizer
with a batch axis. The first call is held until the others queue, so what merges is decided, not timing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from support import FACES, MODELS
from faceswap_v3.server.batch_merger import BatchMerger
from faceswap_v3.server.batching_model_cache import BatchingModelCache, MergedSession

PORTRAITS = ("portrait_female_01.jpg", "portrait_female_02.jpg", "portrait_male_01.jpg", "portrait_male_02.jpg")


def photos(size=(480, 640)) -> list[np.ndarray]:
    """Four real portraits at one size, as frames of one batch of jobs would be."""
    import cv2
    from PIL import Image

    return [cv2.resize(np.asarray(Image.open(FACES / name).convert("RGB")), size) for name in PORTRAITS]


def hold_first_call(merger: BatchMerger, queued: int) -> list[int]:
    """Make merger's first model call wait until `queued` batches wait behind it; returns the items per call."""
    call, taken = merger.call, []

    def held(batch, *args):
        if not taken:
            deadline = time.monotonic() + 20
            while merger.waiting < queued:
                assert time.monotonic() < deadline, "the other jobs' calls never queued"
                time.sleep(0.001)
        taken.append(len(batch))
        return call(batch, *args)

    merger.call = held
    return taken


def at_once(function, items: list, merger: BatchMerger) -> list:
    """function on each item from its own thread, the others started once the first one's model call runs."""
    with ThreadPoolExecutor(len(items)) as pool:
        first = pool.submit(function, items[0])
        deadline = time.monotonic() + 20
        while not merger.model_is_busy():
            assert time.monotonic() < deadline and not first.done(), "the first call never reached the model"
            time.sleep(0.001)
        rest = [pool.submit(function, item) for item in items[1:]]
        return [future.result(60) for future in (first, *rest)]


def test_a_torch_detectors_calls_from_jobs_at_once_merge_and_find_the_faces_a_lone_call_finds():
    from faceswap_v3.pipeline.analysis.detectors import _build

    path = MODELS / "detection_mobilenet0.25_Final.pth"
    cache = BatchingModelCache(max_items=4)
    detector = cache.get("detector retinaface_mobile0.25", path, None, lambda: _build(path, None, None))
    assert isinstance(detector.run_net, BatchMerger)
    taken = hold_first_call(detector.run_net, queued=3)
    frames = photos()
    merged = at_once(detector.detect, frames, detector.run_net)

    assert taken == [1, 3]
    assert (cache.counts.calls, cache.counts.inputs) == (2, 4)
    lone = _build(path, None, None)
    for frame, faces in zip(frames, merged):
        alone = lone.detect(frame)
        assert len(faces) == len(alone) == 1
        assert np.abs(faces[0].landmarks - alone[0].landmarks).max() < 1e-3   # batch and lone convolutions
        assert abs(faces[0].score - alone[0].score) < 1e-4                    # differ in the last bits only


def test_a_recognizer_with_a_batch_axis_merges_and_one_without_is_left_alone(tmp_path):
    import standins
    from faceswap_v3.pipeline.analysis.detectors import _build
    from faceswap_v3.pipeline.analysis.recognition import Recognizer

    batched = standins.arcface(tmp_path / "batched" / "w600k_r50.onnx", batch="N")
    fixed = standins.arcface(tmp_path / "fixed" / "w600k_r50.onnx")
    cache = BatchingModelCache(max_items=8)
    recognizer = cache.get("recognizer", batched, None, lambda: Recognizer(batched))
    assert isinstance(recognizer.model.session, MergedSession)
    assert not isinstance(cache.get("recognizer", fixed, None, lambda: Recognizer(fixed)).model.session,
                          MergedSession)

    taken = hold_first_call(recognizer.model.session.merger, queued=3)
    detector = _build(MODELS / "detection_mobilenet0.25_Final.pth", None, None)
    faces = [(frame, detector.detect(frame)[0]) for frame in photos()]
    merged = at_once(lambda pair: recognizer.embed(*pair), faces, recognizer.model.session.merger)
    assert taken == [1, 3]
    lone = Recognizer(batched)
    for (frame, face), embedding in zip(faces, merged):
        assert np.allclose(embedding, lone.embed(frame, face), atol=1e-5)


def test_models_without_a_batch_to_merge_are_built_as_they_are(store):
    from faceswap_v3.pipeline.analysis.detectors import _build

    cache = BatchingModelCache(max_items=4)
    scrfd_path = MODELS / "det_500m.onnx"  # no batch axis on its outputs: one image a call
    scrfd = cache.get("detector det_500m.onnx", scrfd_path, None, lambda: _build(scrfd_path, None, None))
    assert not isinstance(scrfd.model.session, MergedSession)
    assert len(scrfd.detect(photos()[0])) == 1


def test_a_restorer_on_the_cpu_takes_one_face_a_call_so_its_calls_are_not_merged(restorer_root):
    from faceswap_v3.pipeline.restore.restorer import Restorer

    path = restorer_root / "facerestore_models" / "GFPGANv1.4.pth"
    restorer = BatchingModelCache(max_items=4).get("restorer", path, "cpu", lambda: Restorer(path, "cpu"))
    assert restorer.batch_size == 1 and not isinstance(restorer.restore_on_device, BatchMerger)


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA device")
def test_a_restorer_on_a_gpu_merges_up_to_its_batch(restorer_root):
    from faceswap_v3.pipeline.restore.restorer import Restorer

    path = restorer_root / "facerestore_models" / "GFPGANv1.4.pth"
    restorer = BatchingModelCache(max_items=16).get("restorer", path, "cuda", lambda: Restorer(path, "cuda"))
    assert isinstance(restorer.restore_on_device, BatchMerger) and restorer.restore_on_device.max_items == 8
