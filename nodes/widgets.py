"""Widget definitions shared by several nodes: the API's parameters, with its values and defaults."""

from __future__ import annotations

from ..pipeline.detectors import detector_choices
from ..pipeline.engine import DEFAULT_SWAPPER
from ..pipeline.models.locate import find_file
from ..pipeline.models.registry import DETECTOR_FILES, MODEL_FILES
from ..pipeline.models.store import ModelStore
from ..pipeline.options import API_DETECTORS, DEFAULTS, FACE_ORDERS, GENDER_FILTERS, IMAGE_FORMATS, INTERPOLATIONS, RESTORERS


def _with_local_files(registered: tuple[str, ...] | list[str], local: list[str]) -> list[str]:
    return list(registered) + [name for name in local if name not in registered]


def _download_status(store: ModelStore | None, names: list[str]) -> str:
    """' On disk: a, b. Downloaded on first use: c.' for the registered files among names."""
    if store is None:
        return ""
    on_disk, missing = [], []
    for name in names:
        path = DETECTOR_FILES.get(name, name)
        if path not in MODEL_FILES:
            continue
        entry = MODEL_FILES[path]
        (on_disk if find_file(entry.name, store.dirs(entry.folder)) else missing).append(name)
    parts = [f"On disk: {', '.join(on_disk)}." if on_disk else "",
             f"Downloaded on first use: {', '.join(missing)}." if missing else ""]
    return " " + " ".join(p for p in parts if p) if any(parts) else ""


def swap_model_widget(store: ModelStore) -> tuple:
    choices = _with_local_files([DEFAULT_SWAPPER], store.available("insightface", (".onnx",)))
    return (choices, {"default": DEFAULT_SWAPPER,
                      "tooltip": "Swapper in models/insightface (any .onnx with inswapper_128's interface is listed)."
                                 + _download_status(store, choices)})


def face_restore_widget(store: ModelStore | None) -> tuple:
    """store None: the API's values only (the remote node)."""
    local = store.available("facerestore_models", (".pth", ".safetensors")) if store else []
    choices = _with_local_files(RESTORERS, local)
    return (choices, {"default": DEFAULTS["face_restore"],
                      "tooltip": "Restoration model run on each swapped face (models/facerestore_models)."
                                 + _download_status(store, choices)})


def facedetection_widget(store: ModelStore | None) -> tuple:
    """store None: the API's four detectors only (the remote node)."""
    choices = list(API_DETECTORS) if store is None else detector_choices(store)
    return (choices, {
        "default": DEFAULTS["facedetection"],
        "tooltip": "Face detector (5-point landmarks included). The first four are the API's; SCRFD files in "
                   "models/facedetection are listed too." + _download_status(store, choices)})


FRAMES = ("IMAGE", {"tooltip": "One image or a batch of frames."})
ORDER = (list(FACE_ORDERS), {"default": DEFAULTS["detection_face_order"],
                             "tooltip": "How faces are numbered in both images: by box area, top edge or left edge."})
RESTORE_WEIGHT = ("FLOAT", {"default": DEFAULTS["face_restore_weight"], "min": 0.0, "max": 1.0, "step": 0.01,
                            "tooltip": "How much of the restored face shows: 1 = fully restored, 0 = no restoration "
                                       "(no model is loaded)."})
INTERPOLATION = (list(INTERPOLATIONS), {"default": DEFAULTS["interpolation"],
                                        "tooltip": "Resampling used to bring the face to the restorer's 512 px "
                                                   "and back."})


def gender_widget(which: str = "") -> tuple:
    faces = f"{which} faces" if which else "faces"
    return (list(GENDER_FILTERS), {"default": "no",
                                   "tooltip": f"Keep only {faces} of this gender before indexing."})


def index_widget(which: str = "") -> tuple:
    faces = f"{which} faces" if which else "faces"
    return ("STRING", {"default": "0",
                       "tooltip": f"Which {faces} to pick, e.g. 0 or 0,2 (0 is the first in the face order)."})


IMAGE_FORMAT = (list(IMAGE_FORMATS), {"default": DEFAULTS["image_format"],
                                      "tooltip": "How the API encodes its result (png is lossless); the IMAGE output "
                                                 "is that file decoded."})
IMAGE_QUALITY = ("INT", {"default": DEFAULTS["image_quality"], "min": 10, "max": 100, "step": 1,
                         "tooltip": "The API's encoder quality for jpeg and webp."})
LOCAL_IMAGE_FORMAT = (IMAGE_FORMAT[0], {
    **IMAGE_FORMAT[1],
    "tooltip": "The API's output encoding, kept so graphs can switch to the remote node. Acts only where bytes "
               "are produced (the server, the CLI, the remote node): this node's IMAGE is never re-encoded."})
LOCAL_IMAGE_QUALITY = (IMAGE_QUALITY[0], {
    **IMAGE_QUALITY[1],
    "tooltip": "The API's jpeg/webp quality. Acts only where bytes are produced (the server, the CLI, the remote "
               "node): this node's IMAGE is never re-encoded."})
BASE64 = ("BOOLEAN", {"default": DEFAULTS["base64"],
                      "tooltip": "The API's transport switch: the answer comes as base64 JSON instead of image bytes. "
                                 "The IMAGE output is the same either way."})
FIDELITY = ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01,
                      "tooltip": "CodeFormer only: 0 = strongest restoration, 1 = closest to the input face."})
