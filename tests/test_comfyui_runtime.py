"""The pack as a ComfyUI user meets it while it runs, in a real ComfyUI server (CPU, loopback): memory
that "Unload models" really frees, progress inside one image, warnings on screen, re-reading an
overwritten input file. Stand-in swapper/recognizer and random-weight GFPGAN (real size, no quality);
the real RetinaFace mobile0.25 detector. Skipped without COMFYUI_DIR (failed in CI)."""

from __future__ import annotations

import re
import time

import httpx
import numpy as np
import pytest

import comfyui_harness as harness
from comfy_server import ComfyClient, WebSocketListener
from support import FACES
from faceswap_v3.pipeline.runtime.images import encode_image, read_image_file

SWAP_NODE = "3"
RESTORER, DETECTOR_FILE = "GFPGANv1.4.pth", "detection_mobilenet0.25_Final.pth"


@pytest.fixture(scope="module", params=harness.environments(), ids=harness.environment_ids())
def comfy(request, tmp_path_factory, restorer_root):
    comfy_env = harness.require(request.param)
    base = harness.prepare_base(tmp_path_factory.mktemp("comfy-runtime"), restorer_root,
                                {**harness.TEST_INPUTS, "one_face.jpg": FACES / "portrait_male_damon.jpg"})
    with harness.comfyui_server(comfy_env, base) as server:
        yield ComfyClient(server)


def swap_prompt(**changes) -> dict:
    """Load the source and a one-face target, swap with the all-in-one node, save a PNG."""
    inputs = {"source_img": ["1", 0], "target_img": ["2", 0], "input_faces_index": "0", "source_faces_index": "0",
              "face_restore": RESTORER, "interpolation": "Bilinear", "detection_face_order": "large-small",
              "facedetection": "retinaface_mobile0.25", "detect_gender_input": "no", "detect_gender_source": "no",
              "face_restore_weight": 0.75, "image_format": "jpeg", "image_quality": 95,
              "base64": False}  # as older API-format workflows still carry it: ComfyUI must accept the prompt
    inputs.update(changes)
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "faceswap_v3_source.jpg"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "one_face.jpg"}},
        SWAP_NODE: {"class_type": "FaceswapV3", "inputs": inputs},
        "4": {"class_type": "SaveImage", "inputs": {"images": [SWAP_NODE, 0], "filename_prefix": "runtime"}},
    }


def saved_images(comfy: ComfyClient, outputs: dict) -> list[np.ndarray]:
    return [read_image_file(comfy.base / "output" / image["subfolder"] / image["filename"])
            for output in outputs.values() for image in output.get("images", []) if image["type"] == "output"]


@pytest.fixture(scope="module")
def first_run(comfy):
    """One single-face swap with restoration, watched on the websocket as the web page watches it."""
    with WebSocketListener(comfy) as listener:
        images = saved_images(comfy, comfy.run(swap_prompt(), listener.client_id))
        deadline = time.monotonic() + 10
        while not any(m.get("node") is None for m in listener.of_type("executing")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the "finished" message can trail /history by a moment
    return {"images": images, "messages": list(listener.messages), "rss": comfy.rss_bytes()}


def test_a_single_face_run_reports_progress_more_than_once(first_run):
    progress = [m["data"] for m in first_run["messages"]
                if m["type"] == "progress" and m["data"]["node"] == SWAP_NODE]
    assert len(progress) > 1, progress
    values = [p["value"] for p in progress]
    assert values == sorted(values) and values[-1] == progress[-1]["max"]
    assert any(0 < p["value"] < p["max"] for p in progress), progress  # moved inside the image, not only at its end


def test_free_releases_the_restorer_and_detector_and_the_next_run_loads_them_again(comfy, first_run, restorer_root):
    weights = (restorer_root / "facerestore_models" / RESTORER).stat().st_size + \
        (restorer_root / "facedetection" / DETECTOR_FILE).stat().st_size
    loads_before = comfy.log_text().count("Requested to load FaceswapV3Weights")
    held = dict(re.findall(r"(\S+ \(\w+, [^)]+\)) (\d+) MiB", comfy.log_text().split("models in memory: ")[-1]
                                                                      .splitlines()[0]))
    restorer_mib = (restorer_root / "facerestore_models" / RESTORER).stat().st_size / 2**20
    assert abs(int(held[f"{RESTORER} (restorer, torch cpu)"]) - restorer_mib) < 0.05 * restorer_mib, held
    assert "inswapper_128.onnx (swapper, onnxruntime CPU)" in held, held  # each onnxruntime session, measured
    comfy.free(unload_models=True, free_memory=True)
    deadline, dropped = time.monotonic() + 60, 0
    while time.monotonic() < deadline:
        dropped = first_run["rss"] - comfy.rss_bytes()
        log = comfy.log_text()
        if dropped >= weights and all(f"unloaded {kind}" in log for kind in (f"restorer ({RESTORER})", "detector",
                                                                            "swapper (inswapper_128.onnx)")):
            break
        time.sleep(0.25)
    assert dropped >= weights, f"RSS fell by {dropped / 2**20:.0f} MiB, the weights are {weights / 2**20:.0f} MiB"
    assert "unloaded swapper (inswapper_128.onnx)" in comfy.log_text()  # onnxruntime sessions are released too
    after_free = comfy.rss_bytes()

    again = saved_images(comfy, comfy.run(swap_prompt()))
    assert comfy.log_text().count("Requested to load FaceswapV3Weights") >= loads_before + 3  # detector, restorer...
    assert comfy.rss_bytes() - after_free >= weights * 0.9  # ...really loaded again
    assert len(again) == len(first_run["images"]) == 1
    assert np.array_equal(again[0], first_run["images"][0])


def test_warnings_reach_the_web_page_as_events(comfy):
    script = "/extensions/ComfyUI-Faceswap-V3/faceswap_v3_toasts.js"
    assert script in httpx.get(f"{comfy.url}/extensions", timeout=30).json()  # the page loads our toast extension
    assert "faceswap_v3.warning" in httpx.get(comfy.url + script, timeout=30).text
    prompt = swap_prompt(input_faces_index="0,4", face_restore_weight=0.0)
    with WebSocketListener(comfy) as listener:
        comfy.run(prompt, listener.client_id)
        deadline = time.monotonic() + 10
        while not listener.of_type("faceswap_v3.warning") and time.monotonic() < deadline:
            time.sleep(0.1)
    warnings = listener.of_type("faceswap_v3.warning")
    assert {"node": SWAP_NODE, "message": "target has only 1 face(s) after filtering; input_faces_index asks for 4, "
                                          "left untouched"} in warnings, warnings


def test_an_overwritten_input_file_changes_load_face_output(comfy):
    photo = comfy.base / "input" / "overwritten.png"
    first, second = (read_image_file(FACES / name)[:200, :200] for name in ("portrait_male_damon.jpg",
                                                                             "portrait_female_02.jpg"))
    prompt = {"1": {"class_type": "FaceswapV3LoadFace", "inputs": {"image": "overwritten.png",
                                                                   "url_or_path_or_base64": ""}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loadface"}}}
    photo.write_bytes(encode_image(first, "png"))
    assert np.array_equal(saved_images(comfy, comfy.run(prompt))[0], first)
    photo.write_bytes(encode_image(second, "png"))  # same name, new content
    assert np.array_equal(saved_images(comfy, comfy.run(prompt))[0], second)


def test_remote_node_swaps_every_frame_with_progress_from_the_job_state_and_warns_about_a_typed_key(
        comfy, restorer_root, start_api_server):
    server = start_api_server(restorer_root, "--api-key", "typed-key")
    api = {name: value for name, value in swap_prompt()[SWAP_NODE]["inputs"].items()
           if name not in ("source_img", "target_img")}
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "faceswap_v3_source.jpg"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "one_face.jpg"}},
        "5": {"class_type": "RepeatImageBatch", "inputs": {"image": ["2", 0], "amount": 2}},
        "6": {"class_type": "FaceswapV3SegmindRemoteSwap", "inputs": {
            **api, "face_restore_weight": 0.0, "mode": "async", "image_transport": "base64", "base_url": server,
            "source_img": ["1", 0], "target_img": ["5", 0], "storage_url": server, "api_key": "typed-key"}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "remote"}},
    }
    with WebSocketListener(comfy) as listener:
        images = saved_images(comfy, comfy.run(prompt, listener.client_id))
        deadline = time.monotonic() + 10
        while not listener.of_type("faceswap_v3.warning") and time.monotonic() < deadline:
            time.sleep(0.1)
    assert len(images) == 2 and np.array_equal(images[0], images[1])  # both frames went through the API
    progress = [p for p in listener.of_type("progress") if p["node"] == "6"]
    assert progress and {p["max"] for p in progress} == {6}  # 2 frames x (queued, processing, completed)
    assert [p["value"] for p in progress][-1] == 6 and 3 in [p["value"] for p in progress]
    assert any("API key typed into SegmindRemoteSwap" in w["message"] for w in listener.of_type("faceswap_v3.warning"))


def test_build_face_model_reports_progress_per_photo(comfy):
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "one_face.jpg"}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 3}},
        "3": {"class_type": "FaceswapV3BuildFaceModel",
              "inputs": {"facedetection": "retinaface_mobile0.25", "detection_face_order": "large-small",
                         "detect_gender": "no", "faces_index": "0", "compute_method": "mean", "images": ["2", 0]}},
        "4": {"class_type": "FaceswapV3SaveFaceModel",
              "inputs": {"face_model": ["3", 0], "face_model_name": "progress test", "overwrite": True}},
    }
    with WebSocketListener(comfy) as listener:
        comfy.run(prompt, listener.client_id)
        deadline = time.monotonic() + 10
        while not any(p["node"] == "3" and p["value"] == p["max"] for p in listener.of_type("progress")) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
    progress = [p for p in listener.of_type("progress") if p["node"] == "3"]
    assert progress and {p["max"] for p in progress} == {300}, progress  # 3 photos
    values = [p["value"] for p in progress]
    assert values[0] == 100 and values[-1] == 300 and values == sorted(values), values  # after each photo
