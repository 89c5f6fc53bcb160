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
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from selenium.webdriver.common.keys import Keys

import comfyui_harness as harness
from comfyui_frontend import Frontend, build_examples, point_at_test_inputs, run_in_frontend
from support import FACES, REPO, local_change
from example_workflows import EXAMPLES, NO_PHOTO
from faceswap_v3.pipeline.runtime.images import read_image_file

WORKFLOWS = REPO / "workflows"
SHIPPED = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
ARTIFACTS = Path(os.environ.get("CI_ARTIFACTS", REPO / ".ci-artifacts")) / "browser"


@pytest.fixture(scope="module", params=harness.environments(browser=True), ids=harness.environment_ids(browser=True))
def comfy(request, tmp_path_factory, restorer_root, start_api_server):
    with harness.comfyui_for_tests(request.param, tmp_path_factory.mktemp("comfy-browser"), restorer_root,
                                   start_api_server, browser=True) as (server, api_server):
        frontend = Frontend(server.url)
        try:
            yield {"server": server, "frontend": frontend, "api_server": api_server, "env": request.param,
                   "artifacts": ARTIFACTS / request.param.id}
        finally:
            frontend.close()


def load(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def nodes_of(workflow: dict, kind: str) -> list[dict]:
    return [node for node in workflow["nodes"] if node["type"] == kind]


def graph_of(workflow: dict) -> dict:
    """What a canvas workflow means, whichever frontend drew it: node types, widget values, links."""
    return {"nodes": {node["id"]: (node["type"], node.get("widgets_values")) for node in workflow["nodes"]},
            "links": sorted(map(tuple, workflow["links"]))}


def inputs_of(prompt: dict) -> dict:
    return {node_id: (node["class_type"], node["inputs"]) for node_id, node in prompt.items()}


def test_shipped_files_are_what_the_real_frontend_builds_and_converts(comfy):
    """Byte for byte in the environment that builds them (the first: tools/build_workflows.py); in the
    others, the same graph and the same API prompt (each frontend stores its own view and version)."""
    built = build_examples(comfy["frontend"])
    assert sorted(built) == SHIPPED == sorted(EXAMPLES)
    builds_here = comfy["env"] == harness.default_environment()
    for name, (workflow, prompt) in built.items():
        shipped_prompt = json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())
        if builds_here:
            assert without_measures(load(name)) == without_measures(workflow), (
                f"{name}.json is stale: run tools/build_workflows.py")
            assert shipped_prompt == prompt, f"api/{name}.json is stale"
        else:  # untitled nodes' _meta titles are the core's display names, which newer cores change
            assert graph_of(load(name)) == graph_of(workflow), f"{name}.json: another graph in this frontend"
            assert inputs_of(shipped_prompt) == inputs_of(prompt), f"api/{name}.json: another prompt here"


def without_measures(workflow: dict) -> dict:
    """A saved workflow less what frontend 1.27 measures while the page loads: each node's size (a node was
    sometimes measured 212 px taller from one run to the next) and the view fitted around them. Whether
    the nodes overlap is test_no_node_of_a_template_covers_another's."""
    kept = {**workflow, "nodes": [{k: v for k, v in node.items() if k != "size"} for node in workflow["nodes"]]}
    kept["extra"] = {k: v for k, v in workflow.get("extra", {}).items() if k != "ds"}
    return kept


def check_result(name: str, images: list[np.ndarray], inputs: Path) -> None:
    assert images, "no image saved"
    targets = [read_image_file(FACES / harness.TARGET_PHOTO)] * len(images)
    if name == "4. Swap faces in video frames":  # every frame of the video, in order
        targets = harness.video_frames(inputs / harness.INPUT_NAMES["video"])
        assert len(images) == len(targets) == harness.VIDEO_FRAMES, (len(images), len(targets))
    for image, target in zip(images, targets):
        if name == "6. Swap inside a core ComfyUI graph":
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
        frontend.screenshot(comfy["artifacts"] / f"{name}.png")
        point_at_test_inputs(frontend, comfy["api_server"])
        try:
            check_result(name, [read_image_file(p) for p in run_in_frontend(frontend, server)], server.base / "input")
        except AssertionError as failure:
            failures[name] = str(failure)[:600]
    ran = f"{len(SHIPPED) - len(failures)}/{len(SHIPPED)} shipped workflows ran in the real frontend"
    (comfy["artifacts"] / "summary.txt").write_text(ran + "\n" + json.dumps(failures, indent=2) + "\n")
    assert not failures and len(SHIPPED) == 6, f"{ran}: {failures}"


def test_templates_open_clean_and_the_first_run_reports_one_missing_photo_per_loader(comfy):
    """Opened, a template asks the server for nothing that is not there (no console error, no 404: an
    image widget naming a missing file would be fetched again and again) and names no file, though the input
    folder holds a photo and a video; Run without photos reports one issue per photo loader (not one per input its
    check reads), each saying what to pick; Load Video too (core's check passes an empty name: the page queues
    it as a placeholder, web/faceswap_v3_no_photo.js). Frontend 1.27 cannot hold an empty file widget: there
    Load Face and Load Video show the placeholder."""
    frontend = comfy["frontend"]
    old_frontend = comfy["env"].name.startswith("0.3.64")
    frontend.severe_console_entries()
    for name in SHIPPED:
        workflow = load(name)
        assert workflow["extra"]["ds"]["scale"] > 0.2, "the stored view shows the whole graph at a readable size"
        assert len(nodes_of(workflow, "MarkdownNote")) == 1
        loaders = nodes_of(workflow, "FaceswapV3LoadFace") + nodes_of(workflow, "LoadImage")
        videos = nodes_of(workflow, "LoadVideo")
        assert loaders and all(node["widgets_values"][0] == NO_PHOTO for node in loaders + videos)
        frontend.load(workflow)
        frontend.node_rects()  # drawn
        time.sleep(1)  # previews the page would fetch are asked for by now
        console = frontend.severe_console_entries()
        values = frontend.widget_values()
        shown = {node_values["image"] for node_values in values.values() if "image" in node_values}
        shown_videos = {values[str(node["id"])]["file"] for node in videos}
        if old_frontend:
            assert shown == {"(pick a photo)"}, f"{name} opened naming a photo: {shown}"
            assert shown_videos <= {"(pick a video)"}, f"{name} opened naming a video: {shown_videos}"
        else:
            assert console == [], f"{name} opened with console errors"
            assert shown == {NO_PHOTO}, f"{name} opened naming a photo: {shown}"
            assert shown_videos <= {NO_PHOTO}, f"{name} opened naming a video: {shown_videos}"
        prompt_id, node_errors = frontend.queue(comfy["server"].url)
        frontend.severe_console_entries()  # the refused prompt's 400, logged by the page itself
        assert prompt_id is None and node_errors, f"{name} ran without photos"
        asked = loaders + videos
        assert set(node_errors) == {str(node["id"]) for node in asked}, name
        assert all(len(node_errors[str(node["id"])]["errors"]) == 1 for node in asked), node_errors
        for node in nodes_of(workflow, "FaceswapV3LoadFace"):
            [error] = node_errors[str(node["id"])]["errors"]
            assert "pick an image" in error["details"] and "url_or_path_or_base64" in error["details"], error
        for node in videos:
            [error] = node_errors[str(node["id"])]["errors"]
            assert error["details"] == "file - Invalid video file: (pick a video)", error


def test_no_template_uses_a_node_the_core_marks_deprecated(comfy):
    """Template 4 batched its frames with core Batch Images, deprecated on 0.33 (badged in the page); its
    Load Video + Get Video Components run on both cores."""
    info = httpx.get(f"{comfy['server'].url}/object_info", timeout=60).json()
    used = {node["type"] for name in SHIPPED for node in load(name)["nodes"]} - {"MarkdownNote"}  # the page's own
    assert used <= set(info), f"node types this core lacks: {used - set(info)}"
    deprecated = {kind for kind in used if info[kind].get("deprecated") or "DEPRECATED" in info[kind]["display_name"]}
    assert deprecated == set(), deprecated
    assert {"LoadVideo", "GetVideoComponents"} <= used


def test_no_node_of_a_template_covers_another(comfy):
    """As the page draws them (Vue nodes are taller than canvas ones), title bars included."""
    frontend = comfy["frontend"]
    overlaps = {}
    for name in SHIPPED:
        frontend.load(load(name))
        rects = list(frontend.node_rects().values())
        for i, a in enumerate(rects):
            for b in rects[i + 1:]:
                (ax, ay, aw, ah), (bx, by, bw, bh) = a["rect"], b["rect"]
                if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                    overlaps.setdefault(name, []).append((a["title"], b["title"]))
    assert overlaps == {}


def test_load_face_shows_at_least_12_characters_of_the_picked_photo_at_its_default_width(comfy):
    """In the Vue renderer every widget of a node shares one label column: the URL box's label must not
    squeeze the picked file's name (the saved widget names stay as they are)."""
    frontend = comfy["frontend"]
    if not frontend.vue_nodes():
        pytest.skip("the canvas renderer draws widgets on the canvas; this checks the Vue renderer's boxes")
    frontend.run("window.app.graph.clear();")
    node_id = frontend.run("""
        const node = window.LiteGraph.createNode("FaceswapV3LoadFace");
        node.pos = [100, 100];
        window.app.graph.add(node);
        node.widgets.find((w) => w.name === "image").value = args[0];
        window.app.canvas.setDirty(true, true);
        return node.id;""", harness.INPUT_NAMES["source"])
    frontend.node_rects()
    assert [w for w in frontend.nodes() if w["id"] == node_id][0]["widgets"][:2] == ["image", "url_or_path_or_base64"]
    shown = frontend.shown_characters(node_id, "image")
    assert shown["text"] == harness.INPUT_NAMES["source"] and shown["characters"] >= 12, shown


def test_the_old_load_face_order_fails_in_the_real_frontend_naming_the_widget(comfy):
    """Template 02 as shipped before: Load Face saved as ["photo.jpg", "image", ""]. The frontend puts the
    upload button's value last, so `url_or_path_or_base64` receives "image"."""
    frontend, server = comfy["frontend"], comfy["server"]
    workflow = load("2. Swap a face step by step")
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
    workflow = load("1. Swap a face with one node")
    swap = nodes_of(workflow, "FaceswapV3")[0]
    swap["widgets_values"] = list(OLD_ALL_IN_ONE)
    return workflow, str(swap["id"])


def test_an_old_all_in_one_workflow_loads_with_its_values_in_the_right_widgets(comfy):
    """A workflow saved before the local node lost `base64` (12 values, the boolean last): the pack's
    frontend extension (web/old_workflows.js) drops the stale boolean, so the API's values land in their
    widgets and the widgets added since (pixel_boost first) keep their defaults instead of `true`. One saved
    with image_format and image_quality among the API's widgets (they are the node's last ones now) gets
    every value in its widget too."""
    frontend = comfy["frontend"]
    workflow, swap = old_all_in_one_workflow()
    frontend.load(workflow)
    values = frontend.widget_values()[swap]
    assert "base64" not in values
    assert [values[name] for name in API_NAMES] == OLD_ALL_IN_ONE[:11]
    assert values["pixel_boost"] == "128x128" and values["face_selector"] == "index" and values["track_faces"] is False
    saved = nodes_of(frontend.graph_to_prompt()["workflow"], "FaceswapV3")[0]["widgets_values"]
    assert saved[:10] == OLD_ALL_IN_ONE[:9] + ["128x128"] and saved[-2:] == ["png", 80]

    def reloaded(widgets_values: list) -> tuple[dict, list]:
        workflow["nodes"] = [dict(n, widgets_values=widgets_values) if n["type"] == "FaceswapV3" else n
                             for n in workflow["nodes"]]
        frontend.load(workflow)
        return (frontend.widget_values()[swap],
                nodes_of(frontend.graph_to_prompt()["workflow"], "FaceswapV3")[0]["widgets_values"])

    current = copy.deepcopy(saved)
    current[9:12] = ["256x256", "occlusion", 0.1]  # values that differ from the defaults
    assert reloaded(current)[1] == current  # a workflow saved with the current layout loads unchanged
    previous = current[:9] + current[-2:] + current[9:-2]  # the layout before: encoding among the API's widgets
    by_name, saved_again = reloaded(previous)
    assert saved_again == current
    assert (by_name["image_format"], by_name["image_quality"], by_name["pixel_boost"]) == ("png", 80, "256x256")


def test_an_unseen_graph_of_core_and_pack_nodes_runs_in_the_real_frontend(comfy):
    """Built in the page, not shipped: core LoadImage -> Detect Faces -> Swap Faces -> core ImageBlend ->
    SaveImage."""
    frontend, server = comfy["frontend"], comfy["server"]
    source, target = harness.INPUT_NAMES["source"], harness.INPUT_NAMES["target"]
    detect = {"facedetection": "retinaface_mobile0.25", "faces_index": "0"}
    nodes = [
        {"key": "source", "type": "LoadImage", "pos": [0, 0], "title": None, "size": None, "widgets": {"image": source}},
        {"key": "target", "type": "LoadImage", "pos": [0, 400], "title": None, "size": None, "widgets": {"image": target}},
        {"key": "source_faces", "type": "FaceswapV3DetectFaces", "pos": [350, 0], "title": None, "size": None,
         "widgets": detect},
        {"key": "target_faces", "type": "FaceswapV3DetectFaces", "pos": [350, 400], "title": None, "size": None,
         "widgets": detect},
        {"key": "swap", "type": "FaceswapV3SwapFaces", "pos": [700, 200], "title": None, "size": None, "widgets": {}},
        {"key": "blend", "type": "ImageBlend", "pos": [1050, 200], "title": None, "size": None,
         "widgets": {"blend_factor": 0.5, "blend_mode": "normal"}},
        {"key": "save", "type": "SaveImage", "pos": [1350, 200], "title": None, "size": None,
         "widgets": {"filename_prefix": "unseen"}},
    ]
    links = [["source", "IMAGE", "source_faces", "image"], ["target", "IMAGE", "target_faces", "image"],
             ["target", "IMAGE", "swap", "target_image"], ["target_faces", "faces", "swap", "target_faces"],
             ["source_faces", "faces", "swap", "source_faces"], ["swap", "image", "blend", "image1"],
             ["target", "IMAGE", "blend", "image2"], ["blend", "IMAGE", "save", "images"]]
    frontend.build({"nodes": nodes, "links": links})
    [saved] = run_in_frontend(frontend, server)
    target_pixels = read_image_file(FACES / harness.TARGET_PHOTO)
    far, peak = local_change(target_pixels, read_image_file(saved))
    assert far < 3 and peak > 7, (far, peak)  # half the swap's change, blended over the target


def test_sockets_are_listed_in_the_order_a_user_connects_them(comfy):
    """The face to use right under the target on the swapping nodes (the optional mask last), image_a
    above image_b on Face Similarity."""
    sockets = comfy["frontend"].run("""
        const [types] = args, order = {};
        for (const type of types) {
            const node = window.LiteGraph.createNode(type);
            order[type] = node.inputs.filter((input) => !input.widget).map((input) => input.name);
        }
        return order;""", ["FaceswapV3", "FaceswapV3SwapFaces", "FaceswapV3FaceSimilarity"])
    assert sockets == {
        "FaceswapV3": ["target_img", "source_img", "source_face_model", "reference_image", "reference_face_model",
                       "mask"],
        "FaceswapV3SwapFaces": ["target_image", "target_faces", "source_faces", "source_image", "source_face_model",
                                "mask"],
        "FaceswapV3FaceSimilarity": ["image_a", "face_model_a", "image_b"]}


def test_templates_are_listed_in_order_with_their_titles_under_faceswap_v3(comfy):
    frontend = comfy["frontend"]
    listed = frontend.run("""
        const { api } = await import("/scripts/api.js");
        return (await api.getWorkflowTemplates())[args[0]];""", harness.PACK)
    assert listed == SHIPPED and [name.split(".")[0] for name in listed] == ["1", "2", "3", "4", "5", "6"]
    translations = httpx.get(f"{comfy['server'].url}/i18n", timeout=30).json()
    assert translations["en"]["templateWorkflows"]["category"][harness.PACK] == "Faceswap V3"


def test_a_node_errors_message_shows_in_the_page_without_opening_anything(comfy):
    """Frontend 1.58 answers a failed node with "Node threw an error during execution" and keeps the
    exception's message in a log behind "View details": the pack's toast puts the message on screen first
    (read from the page's visible text), titled with the node."""
    frontend = comfy["frontend"]
    workflow = run_asking_for_a_missing_source_face(comfy, "5")
    message = "source has 2 faces after filtering; source_faces_index asks for 5"
    deadline, shown = time.monotonic() + 10, ""
    while message not in shown and time.monotonic() < deadline:
        time.sleep(0.2)
        shown = frontend.run("return document.body.innerText;")
    assert message in shown, shown[-2000:]
    assert shown_in(frontend, message) == 1, "the message shows once (frontend 1.27's own dialog shows it there)"
    if comfy["env"].name.startswith("0.3.64"):
        frontend.driver.find_element("tag name", "body").send_keys(Keys.ESCAPE)  # 1.27's error dialog
        return
    title = nodes_of(workflow, "FaceswapV3")[0].get("title") or "Faceswap V3 (all-in-one, local)"
    toasts = frontend.run("""
        const [title, message] = args;
        return [...document.querySelectorAll("body *")].map((e) => e.innerText || "").filter(
            (text) => text.includes(title) && text.includes(message) && text.length < title.length + message.length + 200);
        """, title, message)
    assert toasts, "no toast-sized element with the node's title above the message"
    frontend.run("window.app.extensionManager?.toast?.removeAll?.();")


def run_asking_for_a_missing_source_face(comfy, index: str) -> dict:
    """Template 1 run in the page with source_faces_index past the source's faces: the run fails there."""
    frontend, server = comfy["frontend"], comfy["server"]
    workflow = load("1. Swap a face with one node")
    frontend.load(workflow)
    point_at_test_inputs(frontend, comfy["api_server"])
    swap = nodes_of(workflow, "FaceswapV3")[0]["id"]
    frontend.set_widgets(swap, source_faces_index=index, face_restore_weight=0.0)
    with pytest.raises(AssertionError, match=f"source_faces_index asks for {index}"):
        run_in_frontend(frontend, server)
    return workflow


def shown_in(frontend: Frontend, message: str) -> int:
    """How many visible elements of the page hold the message (screen readers' copies aside)."""
    return frontend.run("""
        const [message] = args;
        return [...document.querySelectorAll("body *")].filter((e) => !e.closest(".sr-only") && [...e.childNodes]
            .some((c) => c.nodeType === 3 && c.textContent.includes(message))).length;""", message)


def test_a_new_run_clears_the_previous_runs_toasts_and_an_error_shows_once(comfy):
    """The pack's toast of a failed run stays 20 s; pressing Run again takes it away at once (here the new run
    is refused for a missing photo, so nothing else could have cleared it)."""
    frontend, server = comfy["frontend"], comfy["server"]
    workflow = run_asking_for_a_missing_source_face(comfy, "7")
    message = "source_faces_index asks for 7"
    deadline = time.monotonic() + 10
    while not shown_in(frontend, message) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert shown_in(frontend, message) == 1, "the message shows, once"
    if comfy["env"].name.startswith("0.3.64"):  # there in the frontend's own error dialog, not in a toast of ours
        frontend.driver.find_element("tag name", "body").send_keys(Keys.ESCAPE)
    source = nodes_of(workflow, "FaceswapV3LoadFace")[0]["id"]
    frontend.set_widgets(source, image="no_such_photo.jpg")
    prompt_id, node_errors = frontend.queue(server.url)
    assert prompt_id is None and list(node_errors) == [str(source)]
    deadline = time.monotonic() + 5
    while shown_in(frontend, message) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert shown_in(frontend, message) == 0, "the previous run's toast is still shown"
    frontend.severe_console_entries()


def test_a_node_type_from_a_future_version_gives_the_usual_missing_node_message(comfy):
    frontend = comfy["frontend"]
    workflow = load("2. Swap a face step by step")
    future = dict(nodes_of(workflow, "FaceswapV3SwapFaces")[0], id=99, type="FaceswapV3FromTheFuture", inputs=[],
                  outputs=[], widgets_values=["0"])
    workflow["nodes"].append(future)
    workflow["last_node_id"] = 99
    frontend.load(workflow)  # no exception in the page
    missing = frontend.run("""
        const node = window.app.graph.getNodeById(99);
        return {type: node.type, hasErrors: !!node.has_errors, kept: node.last_serialization?.type ?? null};""")
    # what the frontend's missing-node message is built from: the node kept as saved, marked as erroneous
    assert missing == {"type": "FaceswapV3FromTheFuture", "hasErrors": True, "kept": "FaceswapV3FromTheFuture"}
    assert "FaceswapV3SwapFaces" in {node["type"] for node in frontend.nodes()}
    # close the missing-node dialog with Escape, as a user would (reloading the page takes minutes on a busy
    # machine with the newer frontend)
    frontend.driver.find_element("tag name", "body").send_keys(Keys.ESCAPE)


def test_the_packs_scripts_log_no_console_error(comfy):
    """Runs after the templates ran and warned: nothing the pack's own scripts logged is an error."""
    assert comfy["frontend"].console_errors(f"/extensions/{harness.PACK}/") == []
