"""Face detectors by the API's name (plus insightface SCRFD files), kept by the active model cache."""

from __future__ import annotations

from ..errors import BadInput, ModelUnavailable
from ..models.cache import model_cache
from ..models.locate import find_file
from ..models.registry import DETECTOR_FILES
from ..models.store import ModelStore
from ..options import API_DETECTORS
from .common import FaceDetector

SCRFD_10G = "scrfd_10g (buffalo_l)"


def detector_choices(store: ModelStore | None = None) -> list[str]:
    """The API's four detectors, insightface's SCRFD-10G, then any SCRFD .onnx in facedetection/."""
    extra = store.available("facedetection", (".onnx",)) if store else []
    return [*API_DETECTORS, SCRFD_10G, *extra]


def load_detector(name: str, store: ModelStore, device: str | None = None) -> FaceDetector:
    if name in API_DETECTORS or name == SCRFD_10G:
        path = store.path(DETECTOR_FILES[name])
    elif name.lower().endswith(".onnx"):
        path = find_file(name, store.dirs("facedetection"))
        if path is None:
            looked = ", ".join(str(d) for d in store.dirs("facedetection"))
            raise ModelUnavailable(f"SCRFD file {name} not found (looked in: {looked})")
    else:
        raise BadInput(f"facedetection: {name!r} is not one of {', '.join(detector_choices())} or an SCRFD .onnx file")
    return model_cache().get(f"detector {name}", path, device, lambda: _build(name, path, device))


def _build(name: str, path, device: str | None) -> FaceDetector:
    if name.startswith("retinaface_"):
        from .retinaface import RetinaFaceDetector

        return RetinaFaceDetector(path, name.removeprefix("retinaface_"), device)
    if name.startswith("YOLOv5"):
        from .yolov5face import YOLOv5FaceDetector

        return YOLOv5FaceDetector(path, name.removeprefix("YOLOv5"), device)
    from .scrfd import SCRFDDetector

    return SCRFDDetector(path)
