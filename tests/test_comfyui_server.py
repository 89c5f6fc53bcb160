"""The pack inside a real ComfyUI server (headless, CPU, loopback), through its HTTP API. Runs when
COMFYUI_DIR points at a ComfyUI checkout (and COMFYUI_PYTHON at a Python with its requirements; default:
this one); skipped otherwise, failed in CI (CI=true). Stand-in swap/restore models (real interfaces, no
quality) and the real detectors. The shipped workflows run through the real frontend in
test_comfyui_browser.py."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import numpy as np
import pytest

import comfyui_harness as harness
from support import REPO, local_change
from faceswap_v3.nodes import NODE_CLASS_MAPPINGS
from faceswap_v3.pipeline.runtime.images import read_image_file

PACK = harness.PACK


@pytest.fixture(scope="module", params=harness.environments(), ids=harness.environment_ids())
def comfy(request, tmp_path_factory, restorer_root, start_api_server):
    with harness.comfyui_for_tests(request.param, tmp_path_factory.mktemp("comfy-base"), restorer_root,
                                   start_api_server) as (server, api_server):
        yield {"url": server.url, "base": server.base, "log": server.log, "api_server": api_server}


def test_pack_imports_quickly_and_without_error(comfy):
    log = comfy["log"].read_text()
    assert "IMPORT FAILED" not in "\n".join(line for line in log.splitlines() if PACK in line)
    times = re.findall(r"([\d.]+) seconds(?: \(IMPORT FAILED\))?: .*" + re.escape(PACK), log)
    assert times and float(times[0]) < 0.5, log[-2000:]


def test_object_info_lists_our_nodes_with_the_apis_values(comfy):
    info = httpx.get(f"{comfy['url']}/object_info", timeout=30).json()
    for node in NODE_CLASS_MAPPINGS:
        assert node in info, node
        assert info[node]["category"].startswith("Faceswap V3/") and info[node]["display_name"], node
    expected = {
        "detection_face_order": (["large-small", "small-large", "top-bottom", "bottom-top", "left-right",
                                  "right-left"], "large-small"),
        "facedetection": (["retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n"],
                          "retinaface_resnet50"),
        "face_restore": (["codeformer-v0.1.0.pth", "GFPGANv1.4.pth", "GFPGANv1.3.pth"], "codeformer-v0.1.0.pth"),
        "interpolation": (["Nearest", "Bilinear", "Bicubic", "Lanczos"], "Bilinear"),
        "detect_gender_input": (["no", "female", "male"], "no"),
        "detect_gender_source": (["no", "female", "male"], "no"),
        "image_format": (["jpeg", "png", "webp"], "jpeg"),
    }
    for node in ("FaceswapV3", "FaceswapV3SegmindRemoteSwap"):
        widgets = {**info[node]["input"]["required"], **info[node]["input"].get("optional", {})}
        for name, (values, default) in expected.items():
            assert widgets[name][0][:len(values)] == values and widgets[name][1]["default"] == default
        assert widgets["face_restore_weight"][1]["default"] == 0.75
        assert widgets["image_quality"][1]["default"] == 95
    remote = info["FaceswapV3SegmindRemoteSwap"]["input"]["required"]
    assert remote["base64"][1]["default"] is False
    assert info["FaceswapV3SegmindRemoteSwap"]["input"]["required"]["facedetection"][0] == expected["facedetection"][0]


def test_example_workflows_are_served_as_templates(comfy):
    templates = httpx.get(f"{comfy['url']}/workflow_templates", timeout=30).json()
    shipped = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
    assert sorted(templates[PACK]) == shipped
    for name in shipped:
        served = httpx.get(f"{comfy['url']}/api/workflow_templates/{PACK}/{name}.json", timeout=30)
        assert served.status_code == 200
        assert served.json() == json.loads((REPO / "workflows" / f"{name}.json").read_text())
        thumbnail = httpx.get(f"{comfy['url']}/api/workflow_templates/{PACK}/{name}.jpg", timeout=30)
        assert thumbnail.status_code == 200 and thumbnail.content == (REPO / "workflows" / f"{name}.jpg").read_bytes()


def queue(comfy, prompt: dict) -> dict:
    """POST /prompt and wait: the /history entry."""
    answer = httpx.post(f"{comfy['url']}/prompt", json={"prompt": prompt, "client_id": uuid.uuid4().hex}, timeout=60)
    assert answer.status_code == 200, answer.text
    return harness.wait_for_history(comfy["url"], answer.json()["prompt_id"])


def template_prompt(name: str) -> dict:
    """A shipped template's API twin with the test photos picked."""
    prompt = json.loads((REPO / "workflows" / "api" / f"{name}.json").read_text())
    for node in prompt.values():
        if node["class_type"] == "FaceswapV3LoadFace":
            role = "source" if node["_meta"]["title"].startswith("Source") else "target"
            node["inputs"]["image"] = harness.INPUT_NAMES[role]
    return prompt


def all_in_one_prompt(**swap_inputs) -> tuple[dict, dict]:
    """Template 01's API twin with the test photos picked, quick settings and these inputs on the swap node."""
    prompt = template_prompt("1. Swap a face with one node")
    swap = next(n for n in prompt.values() if n["class_type"] == "FaceswapV3")
    swap["inputs"].update(facedetection="retinaface_mobile0.25", face_restore_weight=0.0, **swap_inputs)
    return prompt, swap


def test_a_node_error_reaches_comfyuis_error_panel_as_our_message(comfy):
    prompt, _ = all_in_one_prompt(source_faces_index="5")
    errors = harness.execution_errors(queue(comfy, prompt))
    assert errors and errors[0]["exception_message"].strip() == \
        "source has 2 faces after filtering; source_faces_index asks for 5"
    assert errors[0]["exception_type"] == "faceswap_v3.BadInput"  # not the custom-node folder's path


def test_a_source_faces_index_past_the_faces_is_pinned_to_the_source_detect_faces_node(comfy):
    """The step-by-step template: the error names faces_index and ComfyUI marks the node that has it."""
    prompt = template_prompt("2. Swap a face step by step")
    for node in prompt.values():
        if node["class_type"] == "FaceswapV3DetectFaces":
            node["inputs"]["facedetection"] = "retinaface_mobile0.25"
    source_detect = next(k for k, n in prompt.items() if n["_meta"]["title"] == "Source faces")
    prompt[source_detect]["inputs"]["faces_index"] = "5"
    errors = harness.execution_errors(queue(comfy, prompt))
    assert errors and errors[0]["node_id"] == source_detect and errors[0]["node_type"] == "FaceswapV3DetectFaces"
    assert errors[0]["exception_message"].strip() == (
        "source has only 2 face(s) after filtering; faces_index asks for 5; these faces are Swap Faces' "
        "source_faces, where every face asked for must exist: faces_index can be 0 to 1")


def test_load_face_names_its_widget_and_quotes_the_first_40_characters_of_a_bad_value(comfy):
    bad = "this is not an image, a URL or a path: " * 3
    prompt, _ = all_in_one_prompt()
    loader = next(n for n in prompt.values() if n["class_type"] == "FaceswapV3LoadFace")
    loader["inputs"]["url_or_path_or_base64"] = bad
    errors = harness.execution_errors(queue(comfy, prompt))
    assert errors and errors[0]["exception_message"].strip() == (
        f"Load Face url_or_path_or_base64 {bad[:40]!r}... is neither a URL, an existing file, nor valid base64")


def test_an_old_api_prompt_that_sets_base64_on_the_local_node_still_runs(comfy):
    """Prompts saved in API format before the local node lost `base64` still name it."""
    prompt, _ = all_in_one_prompt(base64=True)
    entry = queue(comfy, prompt)
    assert entry["status"]["status_str"] == "success", harness.execution_errors(entry)
    assert [image for output in entry["outputs"].values() for image in output.get("images", [])]


def saved_images(comfy, outputs: dict) -> list[np.ndarray]:
    """The images SaveImage nodes wrote, from a /history entry's outputs."""
    images = []
    for output in outputs.values():
        for image in output.get("images", []):
            if image["type"] == "output":
                path = comfy["base"] / "output" / image["subfolder"] / image["filename"]
                assert path.is_file()
                images.append(read_image_file(path))
    return images


def test_face_model_is_built_saved_in_reactors_folder_loaded_and_swapped(comfy):
    source_photo = harness.INPUT_NAMES["source"]
    build = {
        "1": {"class_type": "LoadImage", "inputs": {"image": source_photo}},
        "2": {"class_type": "FaceswapV3BuildFaceModel",
              "inputs": {"facedetection": "retinaface_mobile0.25", "detection_face_order": "large-small",
                         "detect_gender": "no", "faces_index": "0", "compute_method": "mean", "images": ["1", 0]}},
        "3": {"class_type": "FaceswapV3SaveFaceModel",
              "inputs": {"face_model": ["2", 0], "face_model_name": "comfy test", "overwrite": True}},
    }
    entry = queue(comfy, build)
    assert entry["status"]["status_str"] == "success", harness.execution_errors(entry)
    assert (comfy["base"] / "models" / "reactor" / "faces" / "comfy test.safetensors").is_file()
    info = httpx.get(f"{comfy['url']}/object_info/FaceswapV3LoadFaceModel", timeout=30).json()
    assert "comfy test.safetensors" in info["FaceswapV3LoadFaceModel"]["input"]["required"]["face_model"][0]

    # The all-in-one node with a face model instead of source_img, and Swap Faces with an
    # embedding-dependent swapper from the face model and from its photo.
    prompt, swap = all_in_one_prompt()
    swap_id = next(k for k, n in prompt.items() if n is swap)
    target_id = swap["inputs"]["target_img"][0]
    del swap["inputs"]["source_img"]
    swap["inputs"]["source_face_model"] = ["90", 0]
    detect = {"facedetection": "retinaface_mobile0.25", "detection_face_order": "large-small", "detect_gender": "no",
              "faces_index": "0", "image": [target_id, 0]}
    swap_faces = {"target_image": [target_id, 0], "target_faces": ["91", 0], "swap_model": "latent_shift.onnx"}
    prompt.update({
        "90": {"class_type": "FaceswapV3LoadFaceModel", "inputs": {"face_model": "comfy test.safetensors"}},
        "91": {"class_type": "FaceswapV3DetectFaces", "inputs": detect},
        "92": {"class_type": "LoadImage", "inputs": {"image": source_photo}},
        "93": {"class_type": "FaceswapV3SwapFaces", "inputs": {**swap_faces, "source_face_model": ["90", 0]}},
        "94": {"class_type": "FaceswapV3SwapFaces", "inputs": {**swap_faces, "source_image": ["92", 0]}},
        "95": {"class_type": "SaveImage", "inputs": {"images": ["93", 0], "filename_prefix": "by_model"}},
        "96": {"class_type": "SaveImage", "inputs": {"images": ["94", 0], "filename_prefix": "by_photo"}},
        "97": {"class_type": "SaveImage", "inputs": {"images": [swap_id, 0], "filename_prefix": "all_in_one"}},
    })
    entry = queue(comfy, prompt)
    assert entry["status"]["status_str"] == "success", harness.execution_errors(entry)
    outputs = entry["outputs"]
    by_model, by_photo, all_in_one = (saved_images(comfy, {k: outputs[k]})[0] for k in ("95", "96", "97"))
    target = read_image_file(harness.TEST_INPUTS[harness.INPUT_NAMES["target"]])
    assert np.abs(by_model.astype(int) - by_photo.astype(int)).max() <= 2
    assert local_change(target, by_model)[1] > 15
    far, peak = local_change(target, all_in_one)
    assert far < 3 and peak > 15, (far, peak)


def test_a_mask_nothing_reads_is_not_built_and_linking_it_later_builds_it(comfy):
    """The all-in-one node leaves its MASK unbuilt when nothing in the prompt reads it (nodes/prompt_links.py);
    ComfyUI's cache keys a node's outputs by its inputs, so the pack marks each queued prompt and the run that
    left the mask out is not reused once a node reads the mask."""
    prompt, _ = all_in_one_prompt()
    swap_id = next(node_id for node_id, node in prompt.items() if node["class_type"] == "FaceswapV3")
    first = queue(comfy, prompt)
    assert first["status"]["status_str"] == "success", harness.execution_errors(first)
    prompt["80"] = {"class_type": "MaskToImage", "inputs": {"mask": [swap_id, 2]}}
    prompt["81"] = {"class_type": "SaveImage", "inputs": {"images": ["80", 0], "filename_prefix": "swap_mask"}}
    second = queue(comfy, prompt)
    assert second["status"]["status_str"] == "success", harness.execution_errors(second)
    [mask] = saved_images(comfy, {"81": second["outputs"]["81"]})
    target = read_image_file(harness.TEST_INPUTS[harness.INPUT_NAMES["target"]])
    assert mask.shape == target.shape
    covered = (mask[..., 0] > 127).mean()
    assert mask.max() == 255 and 0.005 < covered < 0.3, covered  # the two pasted faces, not the whole frame
