"""Every option's values and default, written down once: the hosted API's parameters, then this pack's
extensions. Widgets (nodes/widgets.py), the CLI's flags, the server and the README read them here; adding an
option is one entry in API_OPTIONS or EXTENSIONS plus the code that uses it."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

from .errors import BadInput

FACE_ORDERS = ("large-small", "small-large", "top-bottom", "bottom-top", "left-right", "right-left")
GENDER_FILTERS = ("no", "female", "male")
API_DETECTORS = ("retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n")
RESTORERS = ("codeformer-v0.1.0.pth", "GFPGANv1.4.pth", "GFPGANv1.3.pth")
# The `interpolation` parameter: each name and the cv2.INTER_* flag it becomes (NEAREST, LINEAR, CUBIC, LANCZOS4).
INTERPOLATION_FLAGS = {"Nearest": 0, "Bilinear": 1, "Bicubic": 2, "Lanczos": 4}
INTERPOLATIONS = tuple(INTERPOLATION_FLAGS)
IMAGE_FORMATS = ("jpeg", "png", "webp")

# Extensions (not in the hosted API)
BOOST_SIZES = ("128x128", "256x256", "384x384", "512x512", "768x768", "1024x1024")
# ComfyUI's classic widgets have no multi-select: the face_mask_types widget offers every combination
MASK_TYPE_CHOICES = ("box", "box+occlusion", "box+region", "box+occlusion+region", "occlusion", "region",
                     "occlusion+region")
FACE_SELECTORS = ("index", "reference")
COMPUTE_METHODS = ("mean", "median")
CONTENT_CHECK_SETTINGS = ("on", "off")
# What a face_restore value that is not one of RESTORERS may be: a restorer file's name, by its suffix.
RESTORER_SUFFIXES = (".pth", ".safetensors")
# facedetection beyond the API's four: insightface's SCRFD-10G, or an SCRFD file's name in facedetection/.
EXTRA_DETECTORS = ("scrfd_10g (buffalo_l)",)
DETECTOR_FILE_SUFFIXES = (".onnx",)
# A hosted job's states, in order (the server sets them, the client and the remote node read them).
QUEUED, PROCESSING, COMPLETED, FAILED = "QUEUED", "PROCESSING", "COMPLETED", "FAILED"
JOB_STATES = (QUEUED, PROCESSING, COMPLETED, FAILED)


@dataclass(frozen=True)
class Option:
    default: Any
    choices: tuple = ()  # the allowed values, where they are a fixed list


# The hosted API's parameters (besides the two images), in its documented order.
API_OPTIONS = {
    "input_faces_index": Option("0"),
    "source_faces_index": Option("0"),
    "detection_face_order": Option("large-small", FACE_ORDERS),
    "detect_gender_input": Option("no", GENDER_FILTERS),
    "detect_gender_source": Option("no", GENDER_FILTERS),
    "facedetection": Option("retinaface_resnet50", API_DETECTORS),
    "face_restore": Option("codeformer-v0.1.0.pth", RESTORERS),
    "face_restore_weight": Option(0.75),
    "interpolation": Option("Bilinear", INTERPOLATIONS),
    "image_format": Option("jpeg", IMAGE_FORMATS),
    "image_quality": Option(95),
    "base64": Option(False),
}
EXTENSIONS = {
    "pixel_boost": Option("128x128", BOOST_SIZES),  # 128x128: the hosted API's behaviour
    "face_mask_types": Option("box", MASK_TYPE_CHOICES),
    "face_mask_blur": Option(0.05),  # the box mask's feathered edge, a fraction of the crop
    "face_mask_padding": Option("0"),
    "face_mask_regions": Option("all"),
    "face_occluder_model": Option("xseg_1.onnx"),
    "face_parser_model": Option("bisenet_resnet_34.onnx"),
    "codeformer_fidelity": Option(0.5),  # CodeFormer's `weight`: 0 = strongest restoration, 1 = closest to the input
    "face_selector": Option("index", FACE_SELECTORS),
    "reference_distance": Option(0.6),  # ArcFace cosine distance; 0.6 (similarity 0.4) as in FaceFusion
    "compute_method": Option("mean", COMPUTE_METHODS),
    "track_faces": Option(False),
    # re-embed every swapped face for face_similarity: one recognizer call per face; off keeps the API's cost
    "measure_similarity": Option(False),
    "content_check": Option("on", CONTENT_CHECK_SETTINGS),  # the nodes' content check (an installed classifier)
}
API_PARAMETERS = tuple(API_OPTIONS)
DEFAULTS = {name: option.default for name, option in {**API_OPTIONS, **EXTENSIONS}.items()}


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """Return value if it is one of allowed, else raise BadInput listing the allowed values."""
    if value not in allowed:
        listed = ", ".join(allowed)
        raise BadInput(f"{name}: {value!r} is not one of the allowed values ({listed})")
    return value


def interpolation_flag(name: str) -> int:
    """The cv2 flag the `interpolation` value name stands for; BadInput listing the names if unknown."""
    return INTERPOLATION_FLAGS[check_choice("interpolation", name, INTERPOLATIONS)]


def check_restore_weight(weight: float) -> float:
    """`face_restore_weight`: a number from 0 (unrestored) to 1 (fully restored)."""
    if isinstance(weight, bool) or not isinstance(weight, Real) or not 0 <= weight <= 1:
        raise BadInput(f"face_restore_weight must be a number from 0 to 1, got {weight!r}")
    return weight
