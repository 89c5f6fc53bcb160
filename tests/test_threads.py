"""One thread budget: every onnxruntime session is created with the thread counts threads.py decides (per
device and role) or the user fixed, bad settings are refused naming the setting, and the frame stages
overlap only where the cores allow both at once."""

from __future__ import annotations

import threading

import pytest

from support import FACES
from faceswap_v3.pipeline.runtime import threads
from faceswap_v3.pipeline.analysis.detectors.scrfd import SCRFDDetector
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.runtime.read_ahead import LazyFrames
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.swap.onnx_swapper import OnnxSwapper
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.analysis.recognition import Recognizer
from faceswap_v3.pipeline.runtime.threads import INTER_OP_SETTING, INTRA_OP_SETTING, ThreadBudget, thread_budget

DETECTOR = "scrfd_2.5g_bnkps.onnx"


def test_two_cores_run_the_stages_one_after_the_other_each_session_with_both_cores():
    budget = ThreadBudget(cores=2)
    assert not budget.overlap(on_gpu=False)
    assert {role: budget.threads(role, on_gpu=False) for role in threads.ROLES} == dict.fromkeys(threads.ROLES, (2, 1))


def test_sixteen_cores_overlap_with_a_quarter_for_analysis_and_the_rest_for_the_swap():
    budget = ThreadBudget(cores=16)
    assert budget.overlap(on_gpu=False)
    assert [budget.threads(role, on_gpu=False) for role in ("detect", "genderage", "recognize")] == [(4, 1)] * 3
    assert [budget.threads(role, on_gpu=False) for role in ("swap", "mask")] == [(12, 1)] * 2


def test_on_a_gpu_the_stages_overlap_and_sessions_keep_one_cpu_thread():
    budget = ThreadBudget(cores=2)
    assert budget.overlap(on_gpu=True) and budget.threads("swap", on_gpu=True) == (1, 1)


def test_the_users_setting_fixes_every_sessions_threads():
    budget = thread_budget({INTRA_OP_SETTING: "3", INTER_OP_SETTING: "2"}, cores=4)
    assert budget == ThreadBudget(4, 3, 2)
    assert budget.threads("detect", on_gpu=False) == budget.threads("swap", on_gpu=True) == (3, 2)


@pytest.mark.parametrize("setting", [INTRA_OP_SETTING, INTER_OP_SETTING])
@pytest.mark.parametrize("value", ["0", "-1", "5", "two", "1.5"])
def test_out_of_range_thread_settings_are_refused_in_one_line_naming_the_setting(setting, value):
    with pytest.raises(BadInput) as refused:
        thread_budget({setting: value}, cores=4)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (f"{setting} must be a whole number from 1 to 4 (the cores this process may use), "
                       f"got {value!r}; unset it to let the pack choose")


@pytest.fixture(scope="module")
def swap_store(swap_root):
    return ModelStore(models_root=swap_root, allow_download=False)


def _sessions(store: ModelStore) -> dict:
    """Fresh models (not the cached ones), each with its real onnxruntime session."""
    insightface = store.dirs("insightface")[0]
    return {"swap": OnnxSwapper(insightface / "latent_shift.onnx").session,
            "recognize": Recognizer(insightface / "models" / "buffalo_l" / "w600k_r50.onnx").model.session,
            "detect": SCRFDDetector(store.dirs("facedetection")[0] / DETECTOR).model.session}


def test_sessions_are_created_with_the_budgets_thread_counts(swap_store, monkeypatch):
    monkeypatch.delenv(INTRA_OP_SETTING, raising=False)
    cores = threads.available_cores()
    for role, session in _sessions(swap_store).items():
        options = session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == \
            ThreadBudget(cores).threads(role, on_gpu=False), role
    monkeypatch.setenv(INTRA_OP_SETTING, "1")
    for role, session in _sessions(swap_store).items():
        assert session.get_session_options().intra_op_num_threads == 1, role


def spinning_entry(options) -> str | None:
    try:
        return options.get_session_config_entry(threads.SPINNING_ENTRY)
    except RuntimeError:  # not set: onnxruntime's default, threads spin after each call
        return None


@pytest.mark.parametrize("cores, providers, entry", [
    (2, ["CPUExecutionProvider"], "0"), (3, ["CPUExecutionProvider"], "0"), (4, ["CPUExecutionProvider"], None),
    (2, ["CUDAExecutionProvider", "CPUExecutionProvider"], None)])
def test_session_threads_sleep_after_a_call_only_where_the_stages_take_turns_on_the_cpu(monkeypatch, cores,
                                                                                      providers, entry):
    """One session at a time (a CPU too small to overlap the stages): a pool spinning after its call would take the
    cores from the next session, so it sleeps. Where the stages overlap, or on a GPU, onnxruntime's default stays.
    Mutations caught: spinning off everywhere (4 cores, CUDA), or nowhere (2, 3 cores)."""
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    for role in threads.ROLES:
        assert spinning_entry(threads.session_options(role, providers)) == entry, role


def test_the_models_sessions_on_two_cores_do_not_spin(swap_store, monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    for role, session in _sessions(swap_store).items():
        assert spinning_entry(session.get_session_options()) == "0", role


def test_a_bad_setting_stops_the_model_load_naming_it(swap_store, monkeypatch):
    monkeypatch.setenv(INTRA_OP_SETTING, "0")
    with pytest.raises(BadInput, match=f"^{INTRA_OP_SETTING} must be a whole number from 1 to "):
        OnnxSwapper(swap_store.dirs("insightface")[0] / "latent_shift.onnx")


@pytest.mark.parametrize("cores, overlapped", [(2, False), (3, False), (4, True), (8, True)])
def test_frames_are_analysed_on_a_worker_thread_only_when_the_cores_allow_it(swap_store, monkeypatch, cores,
                                                                             overlapped):
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    frame = read_image_file(FACES / "portrait_male_02.jpg")
    on_worker = []

    def decode(i):
        on_worker.append(threading.current_thread() is not threading.main_thread())
        return frame

    models = SwapModels(store=swap_store, swapper_file="latent_shift.onnx")
    params = FaceswapParams(facedetection=DETECTOR, face_restore_weight=0.0)
    run_faceswap(frame, LazyFrames(3, frame.shape, decode), params, models)
    assert on_worker == [overlapped] * 3
