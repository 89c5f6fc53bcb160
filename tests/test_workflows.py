"""The shipped example workflows, checked without ComfyUI: each is shipped with its API twin and a
thumbnail, names no photo, keeps its note and stored view, and its API twin is valid for our nodes.
That the files are what the real frontend builds, and that each runs there, is
tests/test_comfyui_browser.py's job."""

from __future__ import annotations

import copy
import json

import pytest

from support import REPO
from example_workflows import EXAMPLES, NO_PHOTO, PHOTO_LOADERS
from workflow_format import check_prompt
from faceswap_v3.nodes import NODE_CLASS_MAPPINGS

WORKFLOWS = REPO / "workflows"
NAMES = sorted(p.stem for p in WORKFLOWS.glob("*.json"))


def load(name: str, api: bool = False) -> dict:
    return json.loads(((WORKFLOWS / "api") if api else WORKFLOWS).joinpath(f"{name}.json").read_text())


def test_every_example_is_shipped_in_order_with_its_api_twin_and_thumbnail():
    assert NAMES == sorted(EXAMPLES) == list(EXAMPLES) and len(NAMES) == 6
    # the frontend titles a pack's template with its file name: numbered, readable, no underscores
    assert [name.split(" ", 1)[0] for name in NAMES] == [f"{i}." for i in range(1, 7)]
    assert not any("_" in name or "-" in name for name in NAMES)
    assert sorted(p.stem for p in (WORKFLOWS / "api").glob("*.json")) == NAMES
    for name in NAMES:
        thumbnail = (WORKFLOWS / f"{name}.jpg").read_bytes()
        assert thumbnail[:3] == b"\xff\xd8\xff" and len(thumbnail) > 5000, name


@pytest.mark.parametrize("name", NAMES)
def test_template_opens_with_a_note_a_view_and_no_photo(name):
    canvas = load(name)
    notes = [node for node in canvas["nodes"] if node["type"] == "MarkdownNote"]
    assert len(notes) == 1 and "pick a photo" in notes[0]["widgets_values"][0]
    assert canvas["extra"]["ds"]["scale"] > 0 and len(canvas["extra"]["ds"]["offset"]) == 2
    loaders = [node for node in canvas["nodes"] if node["type"] in PHOTO_LOADERS]
    assert loaders and {node["widgets_values"][0] for node in loaders} == {NO_PHOTO}
    assert {node["type"] for node in canvas["nodes"]} & set(NODE_CLASS_MAPPINGS), "each example uses our nodes"


@pytest.mark.parametrize("name", NAMES)
def test_api_twin_is_valid_for_our_nodes_and_matches_the_canvas(name):
    prompt, canvas = load(name, api=True), load(name)
    assert check_prompt(prompt, NODE_CLASS_MAPPINGS) == []
    graph_nodes = {str(node["id"]): node["type"] for node in canvas["nodes"] if node["type"] != "MarkdownNote"}
    assert {node_id: node["class_type"] for node_id, node in prompt.items()} == graph_nodes
    loaders = [node for node in prompt.values() if node["class_type"] in PHOTO_LOADERS]
    assert {node["inputs"][next(iter(PHOTO_LOADERS[node["class_type"]]))] for node in loaders} == {NO_PHOTO}
    assert all(node["inputs"].get("url_or_path_or_base64", "") == "" for node in loaders)


API_DEFAULTS = {
    "input_faces_index": "0", "source_faces_index": "0", "face_restore": "codeformer-v0.1.0.pth",
    "interpolation": "Bilinear", "detection_face_order": "large-small", "facedetection": "retinaface_resnet50",
    "detect_gender_input": "no", "detect_gender_source": "no", "face_restore_weight": 0.75,
    "image_format": "jpeg", "image_quality": 95,
}


def test_all_in_one_example_shows_every_api_parameter_with_its_default():
    prompt = load("1. Swap a face with one node", api=True)
    swap = next(n for n in prompt.values() if n["class_type"] == "FaceswapV3")
    links = {name: value for name, value in swap["inputs"].items() if isinstance(value, list)}
    assert set(links) == {"source_img", "target_img"}
    assert {prompt[node]["class_type"] for node, _ in links.values()} == {"FaceswapV3LoadFace"}
    values = {name: value for name, value in swap["inputs"].items() if name not in links}
    assert {name: values.get(name) for name in API_DEFAULTS} == API_DEFAULTS
    assert values.get("base64", False) is False  # the local node may have no base64 widget at all
    extensions = {"pixel_boost": "128x128", "face_mask_types": "box", "face_selector": "index",
                  "track_faces": False}  # later widgets, at the API's behaviour
    assert {name: values.get(name, default) for name, default in extensions.items()} == extensions


def test_checker_catches_bad_values_missing_inputs_and_dangling_links():
    prompt = copy.deepcopy(load("2. Swap a face step by step", api=True))
    detect = next(n for n in prompt.values() if n["class_type"] == "FaceswapV3DetectFaces")
    detect["inputs"]["detection_face_order"] = "biggest-first"
    swap = next(n for n in prompt.values() if n["class_type"] == "FaceswapV3SwapFaces")
    swap["inputs"]["target_faces"] = ["99", 0]
    del swap["inputs"]["target_image"]
    problems = check_prompt(prompt, NODE_CLASS_MAPPINGS)
    assert any("detection_face_order='biggest-first' is not one of" in p for p in problems)
    assert any("target_faces links to a missing node ['99', 0]" in p for p in problems)
    assert any("required input target_image is missing" in p for p in problems)


def test_thumbnails_are_captioned_cards_that_tell_the_templates_apart():
    """4:3 cards (the template browser's shape), each with its caption band under the graph, and no two alike
    at card size (the whole-canvas screenshots were six grey strips)."""
    import numpy as np
    from PIL import Image

    from build_workflows import CAPTION_HEIGHT, CAPTIONS, THUMBNAIL_SIZE

    assert sorted(CAPTIONS) == NAMES and len(set(CAPTIONS.values())) == len(NAMES)
    cards = {}
    for name in NAMES:
        with Image.open(WORKFLOWS / f"{name}.jpg") as image:
            assert image.size == THUMBNAIL_SIZE, name
            cards[name] = np.asarray(image.convert("RGB"), dtype=np.float32)
        band = cards[name][-CAPTION_HEIGHT:]
        assert (np.abs(band - (24, 72, 120)) < 40).all(axis=2).mean() > 0.6, f"{name}: no caption band"
        assert (band.min(axis=2) > 200).mean() > 0.02, f"{name}: no caption text"
    for i, a in enumerate(NAMES):
        for b in NAMES[i + 1:]:
            assert np.abs(cards[a] - cards[b]).mean() > 5, f"{a} and {b} look alike"
