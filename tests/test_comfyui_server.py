"""The pack inside a real ComfyUI server (headless, CPU, loopback). Runs when COMFYUI_DIR points at a
ComfyUI checkout (and COMFYUI_PYTHON at a Python with its requirements; default: this one); skipped
otherwise. Stand-in swap/restore models (real interfaces, no quality) and the real detectors."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid

import httpx
import numpy as np
import pytest

from support import FACES, REPO
from faceswap_v3.pipeline.images import read_image_file

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
pytestmark = pytest.mark.skipif(
    not COMFYUI_DIR, reason="COMFYUI_DIR is not set: these tests need a ComfyUI checkout (see README, 'Developers')")
PACK = "ComfyUI-Faceswap-V3"
SOURCE, TARGET = "group_2faces_women_7242.jpg", "couple_female_left_male_right.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, restorer_root, start_api_server):
    base = tmp_path_factory.mktemp("comfy-base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / PACK).symlink_to(REPO, target_is_directory=True)
    (base / "models").mkdir()
    for sub in ("facedetection", "insightface", "facerestore_models"):
        (base / "models" / sub).symlink_to((restorer_root / sub).resolve(), target_is_directory=True)
    (base / "input").mkdir()
    shutil.copyfile(FACES / SOURCE, base / "input" / "faceswap_v3_source.jpg")
    shutil.copyfile(FACES / TARGET, base / "input" / "faceswap_v3_target.jpg")
    api_server = start_api_server(restorer_root, "--api-key", "comfy-test-key")
    port = free_port()
    env = {**os.environ, "FACESWAP_V3_OFFLINE": "1", "SEGMIND_API_KEY": "comfy-test-key",
           "SEGMIND_ALLOW_CUSTOM_BASE_URL": "1"}  # the key may go to our local server, not Segmind's
    log_path = base / "comfyui.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", "--cpu", "--listen", "127.0.0.1",
             "--port", str(port), "--base-directory", str(base), "--disable-auto-launch",
             "--database-url", "sqlite:///:memory:"],
            cwd=COMFYUI_DIR, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/object_info", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                pytest.fail("ComfyUI exited:\n" + log_path.read_text()[-3000:])
            time.sleep(1)
        else:
            pytest.fail("ComfyUI did not answer within 120 s:\n" + log_path.read_text()[-3000:])
        yield {"url": url, "base": base, "log": log_path, "api_server": api_server}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_pack_imports_quickly_and_without_error(comfy):
    log = comfy["log"].read_text()
    assert "IMPORT FAILED" not in "\n".join(line for line in log.splitlines() if PACK in line)
    times = re.findall(r"([\d.]+) seconds(?: \(IMPORT FAILED\))?: .*" + re.escape(PACK), log)
    assert times and float(times[0]) < 0.5, log[-2000:]


def test_object_info_lists_our_nodes_with_the_apis_values(comfy):
    info = httpx.get(f"{comfy['url']}/object_info", timeout=30).json()
    for node in ("FaceswapV3", "FaceswapV3LoadFace", "FaceswapV3DetectFaces", "FaceswapV3SwapFaces",
                 "FaceswapV3RestoreFace", "FaceswapV3SegmindRemoteSwap"):
        assert node in info, node
        assert info[node]["category"] == "Faceswap V3" and info[node]["display_name"]
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
        required = info[node]["input"]["required"]
        for name, (values, default) in expected.items():
            assert required[name][0][:len(values)] == values and required[name][1]["default"] == default
        assert required["face_restore_weight"][1]["default"] == 0.75
        assert required["image_quality"][1]["default"] == 95 and required["base64"][1]["default"] is False
    assert info["FaceswapV3SegmindRemoteSwap"]["input"]["required"]["facedetection"][0] == expected["facedetection"][0]


def test_example_workflows_are_served_as_templates(comfy):
    templates = httpx.get(f"{comfy['url']}/workflow_templates", timeout=30).json()
    shipped = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
    assert sorted(templates[PACK]) == shipped
    for name in shipped:
        served = httpx.get(f"{comfy['url']}/api/workflow_templates/{PACK}/{name}.json", timeout=30)
        assert served.status_code == 200
        assert served.json() == json.loads((REPO / "workflows" / f"{name}.json").read_text())


def run_prompt(comfy, prompt: dict) -> dict:
    answer = httpx.post(f"{comfy['url']}/prompt", json={"prompt": prompt, "client_id": uuid.uuid4().hex}, timeout=60)
    assert answer.status_code == 200, answer.text
    prompt_id = answer.json()["prompt_id"]
    for _ in range(600):
        history = httpx.get(f"{comfy['url']}/history/{prompt_id}", timeout=30).json()
        if prompt_id in history:
            entry = history[prompt_id]
            messages = [m for m in entry["status"].get("messages", []) if m[0] == "execution_error"]
            assert entry["status"]["status_str"] == "success", messages
            return entry["outputs"]
        time.sleep(0.5)
    pytest.fail("the prompt did not finish within 300 s")


def saved_images(comfy, outputs: dict) -> list[np.ndarray]:
    images = []
    for output in outputs.values():
        for image in output.get("images", []):
            if image["type"] == "output":
                path = comfy["base"] / "output" / image["subfolder"] / image["filename"]
                assert path.is_file()
                images.append(read_image_file(path))
    return images


def local_change(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(mean absolute difference in the four 160 px corners, far from any face; the largest mean
    difference over 32x32 blocks)."""
    diff = np.abs(before.astype(float) - after.astype(float)).mean(axis=2)
    corners = np.concatenate([diff[:160, :160], diff[:160, -160:], diff[-160:, :160], diff[-160:, -160:]])
    h, w = (diff.shape[0] // 32) * 32, (diff.shape[1] // 32) * 32
    blocks = diff[:h, :w].reshape(h // 32, 32, w // 32, 32).mean(axis=(1, 3))
    return float(corners.mean()), float(blocks.max())


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "workflows" / "api").glob("*.json")))
def test_each_workflow_runs_and_swaps_faces(comfy, name):
    prompt = json.loads((REPO / "workflows" / "api" / f"{name}.json").read_text())
    for node in prompt.values():
        inputs = node["inputs"]
        if "facedetection" in inputs:
            inputs["facedetection"] = "retinaface_mobile0.25"  # the real detector these machines have
        if "face_restore" in inputs:
            inputs["face_restore"] = "GFPGANv1.4.pth"  # the quicker of the (random-weight) restorers
        if node["class_type"] == "FaceswapV3SegmindRemoteSwap":
            inputs["base_url"] = inputs["storage_url"] = comfy["api_server"]
        if node["class_type"] == "FaceswapV3RestoreFace":
            inputs["facedetection"] = "retinaface_mobile0.25"
    images = saved_images(comfy, run_prompt(comfy, prompt))
    assert images
    target = read_image_file(FACES / TARGET)
    for image in images:
        if name == "06_faceswap_v3_with_core_nodes":
            assert image.shape == (1024, 1024, 3)
            continue
        frames = [image] if image.shape == target.shape else []
        assert frames, f"unexpected output size {image.shape}"
        far, peak = local_change(target, image)
        assert far < 3 and peak > 15, (far, peak)  # faces changed, the rest only by the jpeg round trip


def test_a_node_error_reaches_comfyuis_error_panel_as_our_message(comfy):
    prompt = json.loads((REPO / "workflows" / "api" / "01_faceswap_v3_all_in_one.json").read_text())
    swap = next(n for n in prompt.values() if n["class_type"] == "FaceswapV3")
    swap["inputs"].update(facedetection="retinaface_mobile0.25", source_faces_index="5", face_restore_weight=0.0)
    answer = httpx.post(f"{comfy['url']}/prompt", json={"prompt": prompt}, timeout=60).json()
    for _ in range(240):
        history = httpx.get(f"{comfy['url']}/history/{answer['prompt_id']}", timeout=30).json()
        if answer["prompt_id"] in history:
            break
        time.sleep(0.5)
    errors = [m[1] for m in history[answer["prompt_id"]]["status"]["messages"] if m[0] == "execution_error"]
    assert errors and errors[0]["exception_message"].strip() == \
        "source has 2 faces after filtering; source_faces_index asks for 5"


def test_face_model_is_built_saved_in_reactors_folder_loaded_and_swapped(comfy):
    build = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "faceswap_v3_source.jpg"}},
        "2": {"class_type": "FaceswapV3BuildFaceModel",
              "inputs": {"facedetection": "retinaface_mobile0.25", "detection_face_order": "large-small",
                         "detect_gender": "no", "faces_index": "0", "compute_method": "mean", "images": ["1", 0]}},
        "3": {"class_type": "FaceswapV3SaveFaceModel",
              "inputs": {"face_model": ["2", 0], "face_model_name": "comfy test", "overwrite": True}},
    }
    run_prompt(comfy, build)
    assert (comfy["base"] / "models" / "reactor" / "faces" / "comfy test.safetensors").is_file()
    info = httpx.get(f"{comfy['url']}/object_info/FaceswapV3LoadFaceModel", timeout=30).json()
    assert "comfy test.safetensors" in info["FaceswapV3LoadFaceModel"]["input"]["required"]["face_model"][0]

    # The all-in-one node (an API prompt saved before issue 11, source_img swapped for a face model), and
    # Swap Faces with an embedding-dependent swapper from the face model and from its photo.
    prompt = json.loads((REPO / "workflows" / "api" / "01_faceswap_v3_all_in_one.json").read_text())
    swap_id = next(k for k, n in prompt.items() if n["class_type"] == "FaceswapV3")
    target_id = prompt[swap_id]["inputs"]["target_img"][0]
    swap = prompt[swap_id]["inputs"]
    del swap["source_img"]
    swap.update(source_face_model=["90", 0], facedetection="retinaface_mobile0.25", face_restore_weight=0.0)
    detect = {"facedetection": "retinaface_mobile0.25", "detection_face_order": "large-small", "detect_gender": "no",
              "faces_index": "0", "image": [target_id, 0]}
    swap_faces = {"target_image": [target_id, 0], "target_faces": ["91", 0], "swap_model": "latent_shift.onnx"}
    prompt.update({
        "90": {"class_type": "FaceswapV3LoadFaceModel", "inputs": {"face_model": "comfy test.safetensors"}},
        "91": {"class_type": "FaceswapV3DetectFaces", "inputs": detect},
        "92": {"class_type": "LoadImage", "inputs": {"image": "faceswap_v3_source.jpg"}},
        "93": {"class_type": "FaceswapV3SwapFaces", "inputs": {**swap_faces, "source_face_model": ["90", 0]}},
        "94": {"class_type": "FaceswapV3SwapFaces", "inputs": {**swap_faces, "source_image": ["92", 0]}},
        "95": {"class_type": "SaveImage", "inputs": {"images": ["93", 0], "filename_prefix": "by_model"}},
        "96": {"class_type": "SaveImage", "inputs": {"images": ["94", 0], "filename_prefix": "by_photo"}},
    })
    outputs = run_prompt(comfy, prompt)
    by_model, by_photo = (saved_images(comfy, {k: outputs[k]})[0] for k in ("95", "96"))
    target = read_image_file(FACES / TARGET)
    assert np.abs(by_model.astype(int) - by_photo.astype(int)).max() <= 2
    assert local_change(target, by_model)[1] > 15
    all_in_one = [image for k, o in outputs.items() if k not in ("95", "96") for image in saved_images(comfy, {k: o})]
    far, peak = local_change(target, all_in_one[0])
    assert far < 3 and peak > 15, (far, peak)
