"""The pack loads the way ComfyUI loads a custom-node folder, and as the pip package faceswap_v3,
without loading onnxruntime, insightface or any model; its node definitions need no network."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from support import REPO

# A stand-in for the few ComfyUI modules the pack touches (folder_paths, comfy.utils,
# comfy.model_management), with ComfyUI's own signatures; the real server is exercised by the
# ComfyUI integration tests when COMFYUI_DIR is set.
COMFY_LIKE = textwrap.dedent('''
    import importlib.util, json, os, sys, types
    root = sys.argv[1]
    models_dir = os.path.join(root, "models")
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.models_dir = models_dir
    folder_paths.folder_names_and_paths = {"checkpoints": ([os.path.join(models_dir, "checkpoints")], set())}
    def add_model_folder_path(name, path, is_default=False):
        paths = folder_paths.folder_names_and_paths.setdefault(name, ([], set()))[0]
        if path not in paths:
            paths.insert(0, path) if is_default else paths.append(path)
    folder_paths.add_model_folder_path = add_model_folder_path
    folder_paths.get_folder_paths = lambda name: folder_paths.folder_names_and_paths[name][0][:]
    folder_paths.get_input_directory = lambda: os.path.join(root, "input")
    folder_paths.get_annotated_filepath = lambda name: os.path.join(root, "input", name)
    sys.modules["folder_paths"] = folder_paths
    sys.modules["nodes"] = types.ModuleType("nodes")  # ComfyUI's own top-level nodes module
    sys.modules["nodes"].COMFY_OWN = True

    spec = importlib.util.spec_from_file_location("ComfyUI-Faceswap-V3", os.path.join(sys.argv[2], "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["ComfyUI-Faceswap-V3"] = module
    spec.loader.exec_module(module)

    heavy = sorted(m for m in sys.modules
                   if m.split(".")[0] in ("onnxruntime", "insightface", "cv2", "spandrel", "httpx", "aiohttp"))
    definitions = {name: cls.INPUT_TYPES() for name, cls in module.NODE_CLASS_MAPPINGS.items()}
    print(json.dumps({
        "nodes": sorted(module.NODE_CLASS_MAPPINGS),
        "display": module.NODE_DISPLAY_NAME_MAPPINGS,
        "heavy": heavy,
        "comfy_nodes_untouched": getattr(sys.modules["nodes"], "COMFY_OWN", False),
        "folders": {k: v[0] for k, v in folder_paths.folder_names_and_paths.items()},
        "definitions": definitions,
        "opened_models": [],
    }, default=str))
''')


def run_python(code: str, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env)


def test_loads_like_a_comfyui_custom_node_folder_without_heavy_imports(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "face.jpg").write_bytes(b"")
    # An unreachable proxy: any network use while building node definitions would fail loudly.
    env = {"PATH": "/usr/bin:/bin", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "HOME": str(tmp_path)}
    result = run_python(COMFY_LIKE, str(tmp_path), str(REPO), env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["nodes"] == ["FaceswapV3", "FaceswapV3BuildFaceModel", "FaceswapV3DetectFaces",
                               "FaceswapV3FaceSimilarity", "FaceswapV3LoadFace", "FaceswapV3LoadFaceModel",
                               "FaceswapV3RestoreFace", "FaceswapV3SaveFaceModel", "FaceswapV3SaveImageMarked",
                               "FaceswapV3SegmindRemoteSwap", "FaceswapV3SwapFaces"]
    assert all("Faceswap V3" in name for key, name in report["display"].items() if key != "FaceswapV3SaveImageMarked")
    assert report["display"]["FaceswapV3SaveImageMarked"] == "Save Image (marked)"
    assert report["heavy"] == []
    assert report["comfy_nodes_untouched"] is True
    for folder in ("facedetection", "facerestore_models", "insightface", "reactor", "reactor/faces"):
        assert report["folders"][folder] == [str(tmp_path / "models" / folder)]

    detect = report["definitions"]["FaceswapV3DetectFaces"]["required"]
    assert detect["facedetection"][0][:4] == ["retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n"]
    assert detect["facedetection"][1]["default"] == "retinaface_resnet50"
    assert detect["detection_face_order"][0] == ["large-small", "small-large", "top-bottom", "bottom-top",
                                                 "left-right", "right-left"]
    assert detect["detection_face_order"][1]["default"] == "large-small"
    assert detect["detect_gender"][0] == ["no", "female", "male"]
    assert detect["faces_index"][1]["default"] == "0"
    assert all("tooltip" in spec[1] for spec in detect.values())
    load = report["definitions"]["FaceswapV3LoadFace"]["required"]
    assert load["image"][0] == ["face.jpg"]


def test_imports_as_the_faceswap_v3_package_without_heavy_imports():
    code = ("import sys, faceswap_v3, faceswap_v3.pipeline.analysis, faceswap_v3.cli.main;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnxruntime','insightface','cv2','torch')))")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_package_folder_is_in_the_pip_packages_list():
    """pyproject lists the packages by hand: a new sub-package left out installs without its files."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    product = ("cli", "client", "net", "nodes", "pipeline", "server")
    found = {"faceswap_v3"} | {"faceswap_v3." + ".".join(init.parent.relative_to(REPO).parts)
                               for top in product for init in (REPO / top).rglob("__init__.py")}
    assert found == listed
