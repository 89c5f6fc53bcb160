"""The shipped workflows in ComfyUI's real web frontend (headless Chromium driven by selenium): built
by the frontend itself, loaded with `app.loadGraphData`, pointed at test photos and stand-in models
through their widgets, queued with `app.queuePrompt` (so the frontend's own graph-to-prompt conversion
runs) and checked in /history. Screenshots of every loaded template go to $CI_ARTIFACTS (default
.ci-artifacts/) under browser/. Needs COMFYUI_DIR and chromium + chromedriver; in CI (CI=true) their
absence fails these tests."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest

import comfyui_harness as harness
from comfyui_frontend import Frontend, build_examples, point_at_test_inputs, run_in_frontend
from support import FACES, REPO, local_change
from example_workflows import EXAMPLES, NO_PHOTO
from faceswap_v3.pipeline.images import read_image_file

WORKFLOWS = REPO / "workflows"
SHIPPED = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
ARTIFACTS = Path(os.environ.get("CI_ARTIFACTS", REPO / ".ci-artifacts")) / "browser"


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, restorer_root, start_api_server):
    with harness.comfyui_for_tests(tmp_path_factory.mktemp("comfy-browser"), restorer_root, start_api_server,
                                   browser=True) as (server, api_server):
        frontend = Frontend(server.url)
        try:
            yield {"server": server, "frontend": frontend, "api_server": api_server}
        finally:
            frontend.close()


def load(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def nodes_of(workflow: dict, kind: str) -> list[dict]:
    return [node for node in workflow["nodes"] if node["type"] == kind]


def test_shipped_files_are_what_the_real_frontend_builds_and_converts(comfy):
    built = build_examples(comfy["frontend"])
    assert sorted(built) == SHIPPED == sorted(EXAMPLES)
    for name, (workflow, prompt) in built.items():
        assert load(name) == workflow, f"{name}.json is stale: run tools/build_workflows.py"
        assert json.loads((WORKFLOWS / "api" / f"{name}.json").read_text()) == prompt, f"api/{name}.json is stale"


def check_result(name: str, images: list[np.ndarray]) -> None:
    assert images, "no image saved"
    target = read_image_file(FACES / harness.TARGET_PHOTO)
    for image in images:
        if name == "06_faceswap_v3_with_core_nodes":
            assert image.shape == (1024, 1024, 3)
            continue
        assert image.shape == target.shape, f"unexpected output size {image.shape}"
        far, peak = local_change(target, image)
        assert far < 3 and peak > 15, (far, peak)  # faces changed, the rest only by the jpeg round trip


def test_every_shipped_workflow_runs_in_the_real_frontend(comfy):
    frontend, server = comfy["frontend"], comfy["server"]
    failures = {}
    for name in SHIPPED:
        frontend.load(load(name))
        frontend.screenshot(ARTIFACTS / f"{name}.png")
        point_at_test_inputs(frontend, comfy["api_server"])
        try:
            check_result(name, [read_image_file(p) for p in run_in_frontend(frontend, server)])
        except AssertionError as failure:
            failures[name] = str(failure)[:600]
    ran = f"{len(SHIPPED) - len(failures)}/{len(SHIPPED)} shipped workflows ran in the real frontend"
    (ARTIFACTS / "summary.txt").write_text(ran + "\n" + json.dumps(failures, indent=2) + "\n")
    assert not failures and len(SHIPPED) == 6, f"{ran}: {failures}"


def test_templates_name_no_photo_and_the_first_run_says_which_input_to_set(comfy):
    frontend = comfy["frontend"]
    for name in SHIPPED:
        workflow = load(name)
        view = workflow["extra"]["ds"]
        assert view["scale"] > 0.2, "the stored view shows the whole graph at a readable size"
        assert len(nodes_of(workflow, "MarkdownNote")) == 1
        loaders = nodes_of(workflow, "FaceswapV3LoadFace") + nodes_of(workflow, "LoadImage")
        assert loaders and all(node["widgets_values"][0] == NO_PHOTO for node in loaders)
        frontend.load(workflow)
        prompt_id, node_errors = frontend.queue(comfy["server"].url)
        assert prompt_id is None and node_errors, f"{name} ran without photos"
        assert {str(node["id"]) for node in loaders} <= set(node_errors), name
        for node in nodes_of(workflow, "FaceswapV3LoadFace"):
            details = " ".join(e["details"] for e in node_errors[str(node["id"])]["errors"])
            assert "pick an image" in details and "url_or_path_or_base64" in details, details


def test_the_old_load_face_order_fails_in_the_real_frontend_naming_the_widget(comfy):
    """Template 02 as shipped before: Load Face saved as ["photo.jpg", "image", ""]. The frontend puts the
    upload button's value last, so `url_or_path_or_base64` receives "image"."""
    frontend, server = comfy["frontend"], comfy["server"]
    workflow = load("02_faceswap_v3_separate_nodes")
    for node in nodes_of(workflow, "FaceswapV3LoadFace"):
        node["widgets_values"] = [harness.INPUT_NAMES["source"], "image", ""]
    frontend.load(workflow)
    loader = nodes_of(workflow, "FaceswapV3LoadFace")[0]["id"]
    assert frontend.widget_values()[str(loader)]["url_or_path_or_base64"] == "image"
    point_at_test_inputs(frontend, comfy["api_server"])
    with pytest.raises(AssertionError) as failed:
        run_in_frontend(frontend, server)
    assert "Load Face url_or_path_or_base64 'image' is neither a URL, an existing file, nor valid base64" \
        in str(failed.value)


OLD_ALL_IN_ONE = ["1", "0", "GFPGANv1.4.pth", "Lanczos", "left-right", "retinaface_mobile0.25", "female", "no",
                  0.5, "png", 80, True]  # the API's 12 widgets, base64 last, as the pack saved them before
API_NAMES = ["input_faces_index", "source_faces_index", "face_restore", "interpolation", "detection_face_order",
             "facedetection", "detect_gender_input", "detect_gender_source", "face_restore_weight", "image_format",
             "image_quality"]


def old_all_in_one_workflow() -> dict:
    workflow = load("01_faceswap_v3_all_in_one")
    swap = nodes_of(workflow, "FaceswapV3")[0]
    swap["widgets_values"] = list(OLD_ALL_IN_ONE)
    return workflow, str(swap["id"])


def test_an_old_all_in_one_workflow_loads_with_its_values_in_the_right_widgets(comfy):
    """A workflow saved before the local node lost `base64` (12 values, the boolean last): the pack's
    frontend extension (web/old_workflows.js) drops the stale boolean, so the API's values land in their
    widgets and the widgets added since (pixel_boost first) keep their defaults instead of `true`."""
    frontend = comfy["frontend"]
    workflow, swap = old_all_in_one_workflow()
    frontend.load(workflow)
    values = frontend.widget_values()[swap]
    assert "base64" not in values
    assert [values[name] for name in API_NAMES] == OLD_ALL_IN_ONE[:11]
    assert values["pixel_boost"] == "128x128" and values["face_selector"] == "index" and values["track_faces"] is False
    saved = nodes_of(frontend.graph_to_prompt()["workflow"], "FaceswapV3")[0]["widgets_values"]
    assert saved[:12] == OLD_ALL_IN_ONE[:11] + ["128x128"]
    current = copy.deepcopy(saved)  # a workflow saved with the new layout loads unchanged
    workflow["nodes"] = [dict(n, widgets_values=current) if n["type"] == "FaceswapV3" else n
                         for n in workflow["nodes"]]
    frontend.load(workflow)
    assert [frontend.widget_values()[swap][name] for name in API_NAMES + ["pixel_boost"]] == current[:12]
