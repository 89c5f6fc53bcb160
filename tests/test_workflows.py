"""The shipped example workflows, checked without ComfyUI: they parse, use only our nodes and the core
nodes we name, carry valid widget values and well-typed links, and their API twins match."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from support import REPO
from faceswap_v3.cli.example_workflows import EXAMPLES
from faceswap_v3.cli.workflow_format import CORE_NODES, FRONTEND_ONLY, canvas_to_prompt, check_canvas, node_definitions
from faceswap_v3.nodes import NODE_CLASS_MAPPINGS

WORKFLOWS = REPO / "workflows"
NAMES = sorted(p.stem for p in WORKFLOWS.glob("*.json"))


@pytest.fixture(scope="module")
def definitions():
    return node_definitions()


def load(name: str, api: bool = False) -> dict:
    return json.loads(((WORKFLOWS / "api") if api else WORKFLOWS).joinpath(f"{name}.json").read_text())


def test_every_example_is_shipped_with_its_api_twin():
    assert NAMES == sorted(EXAMPLES) and len(NAMES) == 6
    assert sorted(p.stem for p in (WORKFLOWS / "api").glob("*.json")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_canvas_is_valid_for_the_node_definitions(name, definitions):
    canvas = load(name)
    assert {"nodes", "links", "last_node_id", "last_link_id", "version"} <= set(canvas)
    types = {node["type"] for node in canvas["nodes"]}
    assert types <= set(NODE_CLASS_MAPPINGS) | set(CORE_NODES) | FRONTEND_ONLY
    assert types & set(NODE_CLASS_MAPPINGS), "each example uses our nodes"
    notes = [node for node in canvas["nodes"] if node["type"] in FRONTEND_ONLY]
    assert len(notes) == 1 and len(notes[0]["widgets_values"][0]) > 40
    assert check_canvas(canvas, definitions) == []


@pytest.mark.parametrize("name", NAMES)
def test_api_twin_is_the_canvas_converted(name, definitions):
    prompt = load(name, api=True)
    assert prompt == canvas_to_prompt(load(name), definitions)
    for node in prompt.values():
        assert node["class_type"] not in FRONTEND_ONLY
        for value in node["inputs"].values():
            if isinstance(value, list):
                assert value[0] in prompt, "every link points at a node of the prompt"


def test_all_in_one_example_shows_every_api_parameter_with_its_default():
    prompt = load("01_faceswap_v3_all_in_one", api=True)
    swap = next(n for n in prompt.values() if n["class_type"] == "FaceswapV3")
    links = {name: value for name, value in swap["inputs"].items() if isinstance(value, list)}
    assert set(links) == {"source_img", "target_img"}
    assert {prompt[node]["class_type"] for node, _ in links.values()} == {"LoadImage"}
    api = {
        "input_faces_index": "0", "source_faces_index": "0", "face_restore": "codeformer-v0.1.0.pth",
        "interpolation": "Bilinear", "detection_face_order": "large-small", "facedetection": "retinaface_resnet50",
        "detect_gender_input": "no", "detect_gender_source": "no", "face_restore_weight": 0.75,
        "image_format": "jpeg", "image_quality": 95, "base64": False,
    }
    extensions = {"pixel_boost": "128x128", "face_mask_types": "box", "face_mask_blur": 0.05,
                  "face_mask_padding": "0", "face_mask_regions": "all", "face_occluder_model": "xseg_1.onnx",
                  "face_parser_model": "bisenet_resnet_34.onnx"}  # issue 10's widgets, at today's behaviour
    values = {k: v for k, v in swap["inputs"].items() if k not in links}
    assert {k: values[k] for k in api if k in values} == api
    assert {k: v for k, v in values.items() if k in extensions} == extensions


def test_checker_catches_bad_values_and_links(definitions):
    canvas = load("02_faceswap_v3_separate_nodes")
    broken = copy.deepcopy(canvas)
    detect = next(n for n in broken["nodes"] if n["type"] == "FaceswapV3DetectFaces")
    detect["widgets_values"][1] = "biggest-first"
    broken["links"][0][5] = "MASK"
    broken["nodes"].append({"id": 99, "type": "ReActorFaceSwap", "inputs": [], "outputs": []})
    problems = check_canvas(broken, definitions)
    assert any("detection_face_order='biggest-first' is not one of" in p for p in problems)
    assert any(p.startswith("link 1:") and "declared MASK" in p for p in problems)
    assert any("unknown type ReActorFaceSwap" in p for p in problems)


def test_files_on_disk_are_what_the_generator_writes():
    result = subprocess.run([sys.executable, "-m", "faceswap_v3", "workflows", "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "workflows are up to date"
