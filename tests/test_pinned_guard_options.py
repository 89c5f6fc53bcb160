"""Pinned behaviours of the address guard's switch, the thread budget and two API options (issue 28): each
test fails when its rule changes (the mutation it was checked against is named in its docstring)."""

from __future__ import annotations

import pytest

from faceswap_v3.net.url_guard import ENV_ALLOW_PRIVATE_URLS, parse_url, resolve_allowed, user_url_policy
from faceswap_v3.pipeline.runtime import threads
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.runtime.threads import INTER_OP_SETTING, INTRA_OP_SETTING, ThreadBudget

PRIVATE_URLS = ("http://127.0.0.1/face.png", "http://10.1.2.3/face.png", "http://[::1]/face.png",
                "http://192.168.0.7/face.png")


# --- FACESWAP_V3_ALLOW_PRIVATE_URLS: only 1/true/yes open private addresses ---------------------------
@pytest.mark.parametrize("value", ["0", "false", "no", "", "  ", "FALSE", " No ", "off"])
def test_a_switch_set_to_no_keeps_private_addresses_closed(monkeypatch, value):
    """Mutation caught: any non-empty value (or any set value) opening the guard."""
    monkeypatch.setenv(ENV_ALLOW_PRIVATE_URLS, value)
    policy = user_url_policy()
    assert not policy.allow_private
    for url in PRIVATE_URLS:
        with pytest.raises(BadInput, match=ENV_ALLOW_PRIVATE_URLS):
            resolve_allowed(parse_url(url), policy)


@pytest.mark.parametrize("value", ["1", "true", "yes", " TRUE "])
def test_a_switch_set_to_yes_opens_private_addresses(monkeypatch, value):
    monkeypatch.setenv(ENV_ALLOW_PRIVATE_URLS, value)
    policy = user_url_policy()
    for url in PRIVATE_URLS:
        assert not resolve_allowed(parse_url(url), policy).is_global


# --- thread budget --------------------------------------------------------------------------------------
def test_the_stages_overlap_from_exactly_four_cores_and_not_at_three():
    """Mutations caught: `cores > MIN_CORES_TO_OVERLAP`, MIN_CORES_TO_OVERLAP = 3 or 5."""
    assert threads.MIN_CORES_TO_OVERLAP == 4
    assert not ThreadBudget(cores=3).overlap(on_gpu=False)
    assert ThreadBudget(cores=4).overlap(on_gpu=False)
    three, four = ThreadBudget(cores=3), ThreadBudget(cores=4)
    assert {role: three.threads(role, on_gpu=False) for role in threads.ROLES} == dict.fromkeys(threads.ROLES, (3, 1))
    assert [four.threads(role, on_gpu=False) for role in threads.ROLES] == [(1, 1)] * 3 + [(3, 1)] * 2


def test_one_inter_op_thread_means_sequential_execution_and_more_mean_parallel(monkeypatch):
    """Mutation caught: `ORT_PARALLEL if inter >= 1` (one inter-op thread must mean sequential execution)."""
    import onnxruntime as ort

    monkeypatch.delenv(INTRA_OP_SETTING, raising=False)
    monkeypatch.delenv(INTER_OP_SETTING, raising=False)
    for role in threads.ROLES:
        options = threads.session_options(role, ["CPUExecutionProvider"])
        assert (options.inter_op_num_threads, options.execution_mode) == (1, ort.ExecutionMode.ORT_SEQUENTIAL)
    monkeypatch.setenv(INTER_OP_SETTING, "1")
    assert threads.session_options("swap", ["CPUExecutionProvider"]).execution_mode == \
        ort.ExecutionMode.ORT_SEQUENTIAL
    if threads.available_cores() >= 2:
        monkeypatch.setenv(INTER_OP_SETTING, "2")
        options = threads.session_options("swap", ["CPUExecutionProvider"])
        assert (options.inter_op_num_threads, options.execution_mode) == (2, ort.ExecutionMode.ORT_PARALLEL)


# --- API options ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("weight", [True, False])
def test_a_json_boolean_restore_weight_is_refused(weight):
    """Mutation caught: dropping `isinstance(weight, bool)` (True would pass as 1, False as 0)."""
    with pytest.raises(BadInput, match=r"face_restore_weight must be a number from 0 to 1, got (True|False)"):
        FaceswapParams.from_mapping({"face_restore_weight": weight})
    assert FaceswapParams.from_mapping({"face_restore_weight": 1}).face_restore_weight == 1


def test_the_image_quality_default_is_the_apis_95():
    """Mutation caught: any other default in the options table."""
    assert FaceswapParams.from_mapping({}).image_quality == 95
    assert FaceswapParams().image_quality == 95
