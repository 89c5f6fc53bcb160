"""What the nodes tell ComfyUI and the user, outside a server: Load Face's change key, the run report,
and the model-cache hook a host (ComfyUI) uses to manage our models."""

from __future__ import annotations

import base64
import shutil
import threading
from pathlib import Path

from support import FACES
from faceswap_v3.nodes.load_face import LoadFace
from faceswap_v3.pipeline.models import cache as model_cache
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.run_report import cpu_fallback_warning, run_info


def test_load_face_change_key_follows_the_file_content_not_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_IMAGE_FOLDERS", str(tmp_path))
    photo = tmp_path / "face.jpg"
    shutil.copyfile(FACES / "portrait_male_damon.jpg", photo)
    first = LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(photo))
    assert LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(photo)) == first
    shutil.copyfile(FACES / "portrait_female_02.jpg", photo)  # overwritten under the same name
    assert LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(photo)) != first
    url = "http://127.0.0.1:9/face.jpg"
    assert LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=url) == url
    text = base64.b64encode(photo.read_bytes()).decode()
    key = LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=text)
    assert len(key) == 64 and key != LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=text[:-8] + "AAAAAAAA")


def test_cpu_fallback_is_a_warning_only_when_a_gpu_is_present():
    runs_on = ["retinaface_mobile0.25: torch:cuda:0", "inswapper_128.onnx: onnxruntime:CPUExecutionProvider",
               "GFPGANv1.4.pth: torch:cuda:0"]
    warning = cpu_fallback_warning(runs_on, gpu_present=True)
    assert warning.startswith("inswapper_128.onnx ran on the CPU although a GPU is present") and "onnxruntime-gpu" in warning
    assert cpu_fallback_warning(runs_on, gpu_present=False) is None
    assert cpu_fallback_warning(["x.onnx: onnxruntime:CUDAExecutionProvider"], gpu_present=True) is None
    assert run_info([1, 0], runs_on[:1], ["frame 1: no face"]) == \
        "faces swapped per frame: 1, 0\nmodel retinaface_mobile0.25: torch:cuda:0\nwarning: frame 1: no face"


class RecordingCache(model_cache.ProcessModelCache):
    def __init__(self):
        super().__init__()
        self.requests = []

    def get(self, kind, path, device, build):
        self.requests.append((kind, path.name))
        return super().get(kind, path, device, build)


def test_every_model_of_a_swap_goes_through_the_installed_model_cache(restorer_root):
    cache = RecordingCache()
    previous = model_cache.model_cache()
    model_cache.use_model_cache(cache)
    try:
        models = SwapModels(store=ModelStore(models_root=restorer_root, allow_download=False))
        rgb = read_image_file(FACES / "portrait_male_damon.jpg")
        params = FaceswapParams(facedetection="retinaface_mobile0.25", face_restore="GFPGANv1.4.pth",
                                detect_gender_input="male")
        result = run_faceswap(rgb, [rgb], params, models)
    finally:
        model_cache.use_model_cache(previous)
    kinds = {kind: name for kind, name in cache.requests}
    assert kinds == {"detector retinaface_mobile0.25": "detection_mobilenet0.25_Final.pth",
                     "genderage": "genderage.onnx", "recognizer": "w600k_r50.onnx",
                     "restorer": "GFPGANv1.4.pth", "swapper": "inswapper_128.onnx"}
    assert len(cache._models) == 5  # each built once, however often it was asked for
    assert "GFPGANv1.4.pth: torch:cpu" in result.runs_on and result.faces_swapped == [1]


def test_threads_asking_for_the_same_model_at_once_get_one_build():
    """The job's read-ahead thread and the swapping thread (or the server's worker) share the cache."""
    cache = model_cache.ProcessModelCache()
    building, release = threading.Event(), threading.Event()
    builds = []

    def build():
        builds.append(threading.current_thread().name)
        building.set()
        assert release.wait(10)
        return object()

    got = []
    first = threading.Thread(target=lambda: got.append(cache.get("swapper", Path("a.onnx"), None, build)))
    first.start()
    assert building.wait(10)  # the first build is under way: a second caller must wait for it
    second = threading.Thread(target=lambda: got.append(cache.get("swapper", Path("a.onnx"), None, build)))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting on the build, not building again
    release.set()
    first.join(10)
    second.join(10)
    assert len(builds) == 1 and len(got) == 2 and got[0] is got[1]
