"""No model call nobody asked for: spies on the real onnxruntime sessions (their run method wrapped) count
the calls per frame on real photos. Detection 1 per frame, swapper faces x tiles (the stand-in has
inswapper's fixed batch of 1), recognizer 1 per source per batch, plus 1 per swapped face only with
measure_similarity."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from support import FACES
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.job import run_faceswap, source_request, target_request
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.params import FaceswapParams

DETECTOR = "scrfd_2.5g_bnkps.onnx"


@pytest.fixture(scope="module")
def models(swap_root):
    return SwapModels(store=ModelStore(models_root=swap_root, allow_download=False), swapper_file="latent_shift.onnx")


def role_of(session) -> str:
    """Which model a session runs, told by its interface (insightface's SCRFD builds a session per input size
    from the model's bytes, so a file name is not always there): SCRFD has 9 outputs, the swapper two inputs,
    ArcFace a 112 px input."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(outputs) >= 5:
        return "detect"
    if len(inputs) == 2:
        return "swap"
    return "recognize" if inputs[0].shape[-1] == 112 else f"other {inputs[0].shape}"


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """Counts InferenceSession.run per model, on every real session the job uses."""
    import onnxruntime as ort

    counted = Counter()
    real_run = ort.InferenceSession.run

    def run(session, *args, **kwargs):
        counted[role_of(session)] += 1
        return real_run(session, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run", run)
    return counted


def params(**changes) -> FaceswapParams:
    return FaceswapParams(**{"facedetection": DETECTOR, "face_restore_weight": 0.0, "detection_face_order": "left-right",
                             **changes})


@pytest.fixture(scope="module")
def group():
    return read_image_file(FACES / "group_6faces_t1.jpg")


@pytest.fixture(scope="module")
def source():
    return read_image_file(FACES / "portrait_female_02.jpg")


def test_three_frames_three_faces_call_each_model_only_as_often_as_needed(models, calls, group, source):
    frames = [group, np.roll(group, 8, axis=1), np.roll(group, 16, axis=1)]
    result = run_faceswap(source, frames, params(input_faces_index="0,1,2"), models)
    assert result.faces_swapped == [3, 3, 3]
    # detection: the source once, then 1 per frame; swapper: 3 faces x 1 tile; recognizer: the source once
    assert calls == {"detect": 1 + 3, "swap": 3 * 3, "recognize": 1}
    assert result.face_similarities == [] and all(math.isnan(v) for v in result.similarity_per_frame)


def test_measure_similarity_adds_one_recognizer_call_per_swapped_face_and_scores_like_before(models, calls, group,
                                                                                             source):
    frames = [group, np.roll(group, 8, axis=1)]
    unmeasured = run_faceswap(source, frames, params(input_faces_index="0,2"), models)
    calls.clear()
    measured = run_faceswap(source, frames, params(input_faces_index="0,2", measure_similarity=True), models)
    assert calls == {"detect": 1 + 2, "swap": 2 * 2, "recognize": 1 + 2 * 2}
    assert all(np.array_equal(a, b) for a, b in zip(unmeasured.frames, measured.frames))
    # the scores are what re-embedding the output always gave: the swapped face against the source identity
    # (embedded at the target face's landmarks, found in the frame before the swap)
    recognizer = models.recognizer()
    identity = recognizer.embed(source, _first_face(models, source))
    for before, after, scores in zip(frames, measured.frames, measured.face_similarities):
        expected = [float(np.dot(recognizer.embed(after, face), identity)) for face in _faces(models, before, "0,2")]
        assert scores == pytest.approx(expected, abs=1e-6) and len(scores) == 2


def test_pixel_boost_calls_the_fixed_batch_swapper_once_per_tile(models, calls, group, source):
    run_faceswap(source, [group], params(input_faces_index="1", pixel_boost="256x256"), models)
    assert calls == {"detect": 2, "swap": 1 * 4, "recognize": 1}


def _faces(models, rgb, indexes: str):
    from faceswap_v3.pipeline.analysis.analyze import analyze_image

    request = target_request(params(input_faces_index=indexes))
    return analyze_image(rgb, request, models.store, models.device).selection.picked


def _first_face(models, rgb):
    from faceswap_v3.pipeline.analysis.analyze import analyze_image

    return analyze_image(rgb, source_request(params()), models.store, models.device).selection.picked[0]
