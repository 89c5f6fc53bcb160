"""One run names every missing model file of the queued workflow: each node lists the files a run of it loads
(its model_files, read from the prompt's widget values and links), and the first missing file raises one error
naming all of them with the exact name and where to save it. The lists are checked against what real runs of
the nodes load, the error against a real ComfyUI on each core."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

import comfyui_harness as harness
from support import FACES, REPO
from faceswap_v3.nodes import content_gate
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.face_model_nodes import BuildFaceModel
from faceswap_v3.nodes.face_similarity import FaceSimilarity
from faceswap_v3.nodes.missing_models import NodeInputs, whole_workflow_failure, workflow_models
from faceswap_v3.nodes.restore_face import RestoreFace
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image
from faceswap_v3.pipeline.errors import ModelMissing
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.runtime.images import read_image_file

R50, MOBILE = "detection_Resnet50_Final.pth", "detection_mobilenet0.25_Final.pth"
ARCFACE, GENDERAGE = "models/buffalo_l/w600k_r50.onnx", "models/buffalo_l/genderage.onnx"
SWAPPER, CODEFORMER = "inswapper_128.onnx", "codeformer-v0.1.0.pth"


def template(name: str) -> dict:
    return json.loads((REPO / "workflows" / "api" / f"{name}.json").read_text())


def listed(prompt: dict) -> dict[str, list[str]]:
    return {need.name: users for need, users in workflow_models(prompt).items()}


def image(name: str):
    return frames_to_image([read_image_file(FACES / name)])


TARGET, SOURCE = "group_2faces_women_7242.jpg", "portrait_female_small_560x415.jpg"
DETECT = {"facedetection": "retinaface_mobile0.25", "detection_face_order": "large-small", "faces_index": "0"}


# -- the files each shipped template's nodes list, from their real widget values ------------------------------

def test_each_shipped_template_lists_the_files_its_nodes_load():
    assert listed(template("1. Swap a face with one node")) == {
        name: ["node 4 'Faceswap V3 (all-in-one, local)'"] for name in (R50, ARCFACE, SWAPPER, CODEFORMER)}
    assert listed(template("2. Swap a face step by step")) == {
        R50: ["node 4 'Source faces'", "node 5 'Target faces'"],
        SWAPPER: ["node 6 'Swap Faces (Faceswap V3)'"], ARCFACE: ["node 6 'Swap Faces (Faceswap V3)'"],
        CODEFORMER: ["node 7 'Restore Face (Faceswap V3)'"]}
    both = ["node 4 'Two faces by index'", "node 5 'Women only, by gender'"]
    # the second node filters the target by gender: the gender model, for that node only
    assert listed(template("3. Swap several faces")) == {
        R50: both, ARCFACE: both, SWAPPER: both, CODEFORMER: both, GENDERAGE: ["node 5 'Women only, by gender'"]}
    video = listed(template("4. Swap faces in video frames"))
    assert sorted(video) == sorted([R50, ARCFACE, SWAPPER])  # face_restore_weight 0 (an int there): no restorer
    assert listed(template("5. Swap with the hosted API")) == {}  # the hosted node needs no local model
    assert sorted(listed(template("6. Swap inside a core ComfyUI graph"))) == sorted([R50, ARCFACE, SWAPPER,
                                                                                     CODEFORMER])


def test_a_prompt_is_read_defensively():
    prompt = template("2. Swap a face step by step")
    prompt["5"]["inputs"]["facedetection"] = ["11", 0]  # a widget fed by a link reads as its default
    prompt["7"]["inputs"]["face_restore_weight"] = "0"  # a value of the wrong type too: still restores
    prompt["6"]["inputs"]["swap_model"] = "../../outside.onnx"  # never a path: left out
    prompt["6"]["_meta"]["title"] = "x" * 500 + "\x1b[2J"
    prompt.update({"20": "not a node", "21": {"class_type": ["FaceswapV3"]}, "22": {"class_type": "Unknown"},
                   "23": {"class_type": "FaceswapV3RestoreFace", "inputs": "not a dict"},
                   "24": {"class_type": "FaceswapV3DetectFaces", "inputs": {"facedetection": "no such detector"}}})
    found = listed(prompt)
    assert sorted(found) == sorted([R50, ARCFACE, CODEFORMER])
    assert found[R50] == ["node 4 'Source faces'", "node 5 'Target faces'", "node 23 'Restore Face (Faceswap V3)'"]
    assert found[ARCFACE] == ["node 6 '" + "x" * 57 + "...'"]
    assert listed(["not", "a", "dict"]) == {} and listed(None) == {}


# -- the report: every missing file, its exact name, where it goes -------------------------------------------------

def test_one_error_names_every_missing_file_with_its_exact_name_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(tmp_path))
    failure = ModelMissing("detector missing", R50, ("facedetection",))
    message = str(whole_workflow_failure(template("2. Swap a face step by step"), failure))
    assert message == "\n".join([
        "4 model files this workflow needs are not on this machine, and downloads are off (FACESWAP_V3_OFFLINE is "
        "set). Save each under the exact name given, then run again:",
        f"- {R50} (for node 4 'Source faces', node 5 'Target faces'): get it from https://github.com/sczhou/"
        f"CodeFormer/releases/download/v0.1.0/{R50} and save it as {tmp_path}/facedetection/{R50}",
        f"- {SWAPPER} (for node 6 'Swap Faces (Faceswap V3)'): get it from https://huggingface.co/datasets/Gourieff/"
        f"ReActor/resolve/main/models/{SWAPPER} and save it as {tmp_path}/insightface/{SWAPPER}",
        f"- {ARCFACE} (for node 6 'Swap Faces (Faceswap V3)'): get it from https://github.com/deepinsight/insightface"
        "/releases/download/v0.7/buffalo_l.zip and extract w600k_r50.onnx from it (buffalo_l.zip, 288.6 MB; its "
        f"other .onnx files belong beside it) into {tmp_path}/insightface/models/buffalo_l, so that "
        f"{tmp_path}/insightface/models/buffalo_l/w600k_r50.onnx exists",
        f"- {CODEFORMER} (for node 7 'Restore Face (Faceswap V3)'): get it from https://github.com/sczhou/CodeFormer/"
        f"releases/download/v0.1.0/codeformer.pth and save it as {tmp_path}/facerestore_models/{CODEFORMER} (the "
        "download is named codeformer.pth)"])
    # a file that is there is not named
    (tmp_path / "insightface").mkdir()
    (tmp_path / "insightface" / SWAPPER).write_bytes(b"")
    assert f"- {SWAPPER}" not in str(whole_workflow_failure(template("2. Swap a face step by step"), failure))


def test_with_downloads_on_only_what_will_not_download_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(tmp_path))
    prompt = template("2. Swap a face step by step")
    prompt["6"]["inputs"]["swap_model"] = "my_swapper.onnx"  # a user's own file, deleted since
    failure = ModelMissing("my_swapper.onnx not found", "my_swapper.onnx", ("insightface", "reswapper", "hyperswap"))
    message = str(whole_workflow_failure(prompt, failure))
    # the registered files download when their node runs: only the user's file is named
    assert message == ("1 model file this workflow needs is not on this machine. Save each under the exact name "
                       "given, then run again:\n- my_swapper.onnx (for node 6 'Swap Faces (Faceswap V3)'): this pack "
                       f"does not download it; save your copy as {tmp_path}/insightface/my_swapper.onnx")
    # a failed download: the others would most likely fail too, so they are all named
    failed = ModelMissing("could not download it (ConnectError)", R50, ("facedetection",), download_failed=True)
    message = str(whole_workflow_failure(prompt, failed))
    assert message.startswith("4 model files this workflow needs are not on this machine, and downloading "
                              f"{R50} failed.")
    assert [line.split(" ")[1] for line in message.splitlines()[1:-1]] == [R50, "my_swapper.onnx", ARCFACE,
                                                                          CODEFORMER]
    assert message.endswith("The download failed with: could not download it (ConnectError)")


def test_the_failing_file_is_named_even_where_no_node_lists_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(tmp_path))
    message = str(whole_workflow_failure({}, ModelMissing("x", GENDERAGE, ("insightface",))))
    assert message.splitlines()[1].startswith(f"- {GENDERAGE} (for the node that stopped): get it from https://")


def test_a_node_given_the_prompt_raises_the_whole_report_and_one_called_directly_the_engines_message(tmp_path,
                                                                                                      monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(tmp_path))
    prompt = template("2. Swap a face step by step")
    with pytest.raises(ModelMissing) as report:  # a node that takes `prompt` itself
        DetectFaces().detect(image(SOURCE), detect_gender="no", prompt=prompt, unique_id="4", **DETECT)
    assert [line.split(" ")[1] for line in str(report.value).splitlines()[1:]] == [MOBILE, R50, SWAPPER, ARCFACE,
                                                                                  CODEFORMER]
    with pytest.raises(ModelMissing) as report:  # one whose function never sees it
        BuildFaceModel().build(images=image(SOURCE), detect_gender="no", compute_method="mean", prompt=prompt,
                               **DETECT)
    assert str(report.value).startswith("4 model files this workflow needs are not on this machine")
    with pytest.raises(ModelMissing) as direct:
        DetectFaces().detect(image(SOURCE), detect_gender="no", **DETECT)
    assert str(direct.value).startswith(f"model file {MOBILE} not found (looked in: {tmp_path}/facedetection")


# -- each node lists exactly what a real run of it loads -------------------------------------------------------------

@pytest.fixture(scope="module")
def mask_root(restorer_root, swap_root, tmp_path_factory):
    """restorer_root's models, FaceFusion's content analysers and XSeg/BiSeNet stand-ins."""
    import standins

    root = tmp_path_factory.mktemp("mask-models")
    for sub in ("facedetection", "insightface", "facerestore_models"):
        (root / sub).symlink_to((restorer_root / sub).resolve(), target_is_directory=True)
    (root / "content_analyser").symlink_to(swap_root / "content_analyser", target_is_directory=True)
    standins.xseg(root / "face_parsing" / "xseg_1.onnx")
    standins.bisenet(root / "face_parsing" / "bisenet_resnet_34.onnx")
    return root


@pytest.fixture
def loads(monkeypatch, mask_root):
    """The model files the nodes resolve while a test runs them (every loader resolves through the store)."""
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(mask_root))
    monkeypatch.setenv("FACESWAP_V3_CONTENT_CLASSIFIER", "facefusion")  # the one with model files (not nudenet)
    monkeypatch.setattr(content_gate, "_loaded", {})  # the content check loads its files again
    names: set[str] = set()
    path, resolve = ModelStore.path, ModelStore.resolve

    def recorded_path(store, name):
        names.add(name)
        return path(store, name)

    def recorded_resolve(store, need):
        names.add(need.name)
        return resolve(store, need)

    monkeypatch.setattr(ModelStore, "path", recorded_path)
    monkeypatch.setattr(ModelStore, "resolve", recorded_resolve)
    return names


def as_prompt(inputs: dict) -> NodeInputs:
    """The node's inputs as a queued prompt holds them: widget values, and a link for anything else."""
    return NodeInputs({name: value if isinstance(value, (str, int, float, bool)) else ["1", 0]
                       for name, value in inputs.items() if value is not None})


def run(node, function: str, loads: set[str], **inputs) -> tuple:
    """Run the node as ComfyUI does; assert it loaded exactly the files its model_files lists for these inputs."""
    loads.clear()
    result = getattr(node(), function)(**inputs)
    assert {need.name for need in node.model_files(as_prompt(inputs))} == loads
    return result


MASKS = {"face_mask_types": "box+occlusion+region", "face_mask_blur": 0.05, "face_mask_padding": "0",
         "face_mask_regions": "all", "face_occluder_model": "xseg_1.onnx", "face_parser_model": "bisenet_resnet_34.onnx"}


def test_detect_build_and_similarity_list_what_they_load(loads):
    target, source = image(TARGET), image(SOURCE)
    run(DetectFaces, "detect", loads, image=target, detect_gender="female", **DETECT)
    assert loads == {MOBILE, GENDERAGE}
    run(DetectFaces, "detect", loads, image=target, detect_gender="no", face_selector="reference",
        reference_image=source, **{**DETECT, "facedetection": "scrfd_2.5g_bnkps.onnx"})
    assert loads == {"scrfd_2.5g_bnkps.onnx", ARCFACE}
    face_model, _ = run(BuildFaceModel, "build", loads, images=source, detect_gender="no", compute_method="mean",
                        **DETECT)
    assert loads == {MOBILE, GENDERAGE, ARCFACE}
    run(BuildFaceModel, "build", loads, face_model=face_model, detect_gender="no", compute_method="mean", **DETECT)
    assert loads == {ARCFACE}
    run(FaceSimilarity, "compare", loads, facedetection="retinaface_mobile0.25", detection_face_order="large-small",
        face_index_a="0", face_index_b="0", image_a=source, image_b=target)
    assert loads == {MOBILE, ARCFACE}


def test_swap_and_restore_list_what_they_load(loads):
    target, source = image(TARGET), image(SOURCE)
    target_faces = DetectFaces().detect(target, detect_gender="no", **DETECT)[0]
    source_faces = DetectFaces().detect(source, detect_gender="no", **DETECT)[0]
    face_model = BuildFaceModel().build(images=source, detect_gender="no", compute_method="mean", **DETECT)[0]
    swap = {"target_image": target, "target_faces": target_faces, "swap_model": SWAPPER}
    run(SwapFaces, "swap", loads, source_faces=source_faces, content_check="on", **swap, **MASKS)
    assert loads == {SWAPPER, ARCFACE, "xseg_1.onnx", "bisenet_resnet_34.onnx", "nsfw_1.onnx", "nsfw_2.onnx",
                     "nsfw_3.onnx"}
    run(SwapFaces, "swap", loads, source_face_model=face_model, content_check="off", **swap)
    assert loads == {SWAPPER}
    run(SwapFaces, "swap", loads, source_face_model=face_model, content_check="off", measure_similarity=True, **swap)
    assert loads == {SWAPPER, ARCFACE}
    restore = {"image": target, "face_restore": "GFPGANv1.4.pth", "codeformer_fidelity": 0.5,
               "interpolation": "Bilinear", "facedetection": "retinaface_mobile0.25"}
    run(RestoreFace, "restore", loads, face_restore_weight=0.0, **restore)
    assert loads == set()
    run(RestoreFace, "restore", loads, face_restore_weight=0.5, faces=target_faces, **restore)
    assert loads == {"GFPGANv1.4.pth"}


def test_the_all_in_one_node_lists_what_it_loads(loads):
    target, source = image(TARGET), image(SOURCE)
    api = {"input_faces_index": "0", "source_faces_index": "0", "face_restore": "GFPGANv1.4.pth",
           "interpolation": "Bilinear", "detection_face_order": "large-small", "facedetection": "retinaface_mobile0.25",
           "detect_gender_input": "no", "detect_gender_source": "female", "face_restore_weight": 0.0}
    run(FaceswapV3, "swap", loads, target_img=target, source_img=source, content_check="off", **api)
    assert loads == {MOBILE, GENDERAGE, ARCFACE, SWAPPER}
    face_model = BuildFaceModel().build(images=source, detect_gender="no", compute_method="mean", **DETECT)[0]
    run(FaceswapV3, "swap", loads, target_img=target, source_face_model=face_model, content_check="on",
        face_selector="reference", reference_face_model=face_model, **{**api, "face_restore_weight": 0.5}, **MASKS)
    assert loads == {MOBILE, ARCFACE, SWAPPER, "GFPGANv1.4.pth", "xseg_1.onnx", "bisenet_resnet_34.onnx",
                     "nsfw_1.onnx", "nsfw_2.onnx", "nsfw_3.onnx"}


# -- in a real ComfyUI, with no model at all ----------------------------------------------------------------------

@pytest.fixture(scope="module", params=harness.environments(), ids=harness.environment_ids())
def comfy_without_models(request, tmp_path_factory):
    """ComfyUI with this pack, the test photos and an empty models folder; downloads off (the harness)."""
    comfy_env = harness.require(request.param)
    base = harness.prepare_base(tmp_path_factory.mktemp("comfy-no-models"), None, harness.TEST_INPUTS)
    nowhere = tmp_path_factory.mktemp("no-user-cache")  # not the user's own model cache either
    with harness.comfyui_server(comfy_env, base, env={"XDG_CACHE_HOME": str(nowhere), "FACESWAP_V3_MODELS": ""}) \
            as server:
        yield server


def step_by_step_prompt() -> dict:
    """Template 2's API twin with the test photos picked and the small detector (its file is in ../shared)."""
    prompt = template("2. Swap a face step by step")
    for node in prompt.values():
        if node["class_type"] == "FaceswapV3LoadFace":
            role = "source" if node["_meta"]["title"].startswith("Source") else "target"
            node["inputs"]["image"] = harness.INPUT_NAMES[role]
        if node["class_type"] in ("FaceswapV3DetectFaces", "FaceswapV3RestoreFace"):
            node["inputs"]["facedetection"] = "retinaface_mobile0.25"
    return prompt


def queue(server, prompt: dict) -> dict:
    answer = httpx.post(f"{server.url}/prompt", json={"prompt": prompt, "client_id": "missing-models"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return harness.wait_for_history(server.url, answer.json()["prompt_id"], timeout=300)


def test_one_run_names_every_missing_file_then_the_same_graph_runs_once_they_are_there(comfy_without_models,
                                                                                        restorer_root):
    server = comfy_without_models
    models = server.base / "models"
    entry = queue(server, step_by_step_prompt())
    errors = harness.execution_errors(entry)
    assert entry["status"]["status_str"] == "error" and len(errors) == 1
    assert errors[0]["node_type"] == "FaceswapV3DetectFaces"
    assert errors[0]["exception_type"] == "faceswap_v3.ModelMissing"
    assert errors[0]["exception_message"].rstrip("\n") == "\n".join([
        "4 model files this workflow needs are not on this machine, and downloads are off (FACESWAP_V3_OFFLINE is "
        "set). Save each under the exact name given, then run again:",
        f"- {MOBILE} (for node 4 'Source faces', node 5 'Target faces'): get it from https://github.com/sczhou/"
        f"CodeFormer/releases/download/v0.1.0/{MOBILE} and save it as {models}/facedetection/{MOBILE}",
        f"- {SWAPPER} (for node 6 'Swap Faces (Faceswap V3)'): get it from https://huggingface.co/datasets/Gourieff/"
        f"ReActor/resolve/main/models/{SWAPPER} and save it as {models}/insightface/{SWAPPER}",
        f"- {ARCFACE} (for node 6 'Swap Faces (Faceswap V3)'): get it from https://github.com/deepinsight/insightface"
        "/releases/download/v0.7/buffalo_l.zip and extract w600k_r50.onnx from it (buffalo_l.zip, 288.6 MB; its "
        f"other .onnx files belong beside it) into {models}/insightface/models/buffalo_l, so that "
        f"{models}/insightface/models/buffalo_l/w600k_r50.onnx exists",
        f"- {CODEFORMER} (for node 7 'Restore Face (Faceswap V3)'): get it from https://github.com/sczhou/CodeFormer/"
        f"releases/download/v0.1.0/codeformer.pth and save it as {models}/facerestore_models/{CODEFORMER} (the "
        "download is named codeformer.pth)"])

    # the files saved where the message says, under the names it gives: the same graph runs
    for relative in (f"facedetection/{MOBILE}", f"insightface/{SWAPPER}", f"facerestore_models/{CODEFORMER}",
                     "insightface/models/buffalo_l/w600k_r50.onnx"):
        (models / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(restorer_root / relative, models / relative)
    entry = queue(server, step_by_step_prompt())
    assert entry["status"]["status_str"] == "success", harness.execution_errors(entry)
    saved = [image for output in entry["outputs"].values() for image in output.get("images", [])
             if image["type"] == "output"]
    assert len(saved) == 1 and (server.base / "output" / saved[0]["subfolder"] / saved[0]["filename"]).is_file()
