"""Face detectors by the API's name (plus insightface SCRFD files), kept by the active model cache.

Which network a file holds is read from the file itself, as insightface's model zoo does for ONNX models:
an .onnx file is an SCRFD graph; a .pth state dict is RetinaFace or YOLOv5-face, the variant recognised
by its keys (TorchDetector.variant_of). Adding a detector:
1. its file: one DetectorEntry in models/registry.py (with its ModelFile: address, size, SHA-256); the
   facedetection option, the widgets and the CLI list it from there;
2. a new kind of network only: a TorchDetector subclass in a module of this package (its `network` record
   names the net's module and class, `variant_of` recognises its state dict), imported below; subclassing
   registers it. Never a rule on the file's name.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import BadInput, ModelUnavailable
from ...models.cache import model_cache
from ...models.registry import DETECTOR_FILES
from ...models.store import ModelStore, NeededModel
from ...options import API_DETECTORS, DETECTOR_FILE_SUFFIXES, EXTRA_DETECTORS
from ...models.checkpoints import read_state_dict
from .common import TORCH_DETECTORS, FaceDetector
from . import retinaface, yolov5face  # noqa: F401 - each registers its TorchDetector subclass


def detector_choices(store: ModelStore | None = None) -> list[str]:
    """The API's four detectors, insightface's SCRFD-10G, then any SCRFD .onnx in facedetection/."""
    extra = store.available("facedetection", DETECTOR_FILE_SUFFIXES) if store else []
    return [*API_DETECTORS, *EXTRA_DETECTORS, *extra]


def detector_model(name: str) -> NeededModel:
    """The file a facedetection value loads: a registered detector's, or an SCRFD file in facedetection/."""
    if name in API_DETECTORS or name in EXTRA_DETECTORS:
        return NeededModel(DETECTOR_FILES[name])
    if name.lower().endswith(DETECTOR_FILE_SUFFIXES):
        return NeededModel(name, ("facedetection",))
    raise BadInput(f"facedetection: {name!r} is not one of {', '.join(detector_choices())} or an SCRFD .onnx file")


def load_detector(name: str, store: ModelStore, device: str | None = None) -> FaceDetector:
    path = store.resolve(detector_model(name))
    expected = name if name in API_DETECTORS else None
    return model_cache().get(f"detector {name}", path, device, lambda: _build(Path(path), expected, device))


def _build(path: Path, expected: str | None, device: str | None) -> FaceDetector:
    """The detector the file holds; expected: the API name the file must hold (its registered file)."""
    if path.suffix.lower() == ".onnx":
        from .scrfd import SCRFDDetector

        return SCRFDDetector(path)
    state = read_state_dict(path)
    keys = set(state)
    found = [(kind, variant) for kind in TORCH_DETECTORS if (variant := kind.variant_of(keys)) is not None]
    if not found:
        known = ", ".join(f"{kind.checkpoint_name(v)}" for kind in TORCH_DETECTORS for v in kind.variants)
        raise ModelUnavailable(f"{path} is not a face detector checkpoint this pack knows ({known}); "
                               f"its first keys: {', '.join(list(state)[:3])}")
    kind, variant = found[0]
    if expected is not None and kind.api_name(variant) != expected:
        wanted = next(k.checkpoint_name(v) for k in TORCH_DETECTORS for v in k.variants
                      if k.api_name(v) == expected)
        raise ModelUnavailable(f"{path} is not a {wanted} checkpoint (its layout is "
                               f"{kind.checkpoint_name(variant)}'s); put the right file there or delete it so it "
                               "downloads again")
    return kind(path, state, variant, device)
