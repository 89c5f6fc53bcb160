"""The Faceswap V3 API's enum values and defaults: the one place they are written down."""

from __future__ import annotations

from numbers import Real

from .errors import BadInput

FACE_ORDERS = ("large-small", "small-large", "top-bottom", "bottom-top", "left-right", "right-left")
GENDER_FILTERS = ("no", "female", "male")
API_DETECTORS = ("retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n")
RESTORERS = ("codeformer-v0.1.0.pth", "GFPGANv1.4.pth", "GFPGANv1.3.pth")
# The `interpolation` parameter: each name and the cv2.INTER_* flag it becomes (NEAREST, LINEAR, CUBIC, LANCZOS4).
INTERPOLATION_FLAGS = {"Nearest": 0, "Bilinear": 1, "Bicubic": 2, "Lanczos": 4}
INTERPOLATIONS = tuple(INTERPOLATION_FLAGS)
IMAGE_FORMATS = ("jpeg", "png", "webp")

DEFAULTS = {
    "input_faces_index": "0",
    "source_faces_index": "0",
    "detection_face_order": "large-small",
    "detect_gender_input": "no",
    "detect_gender_source": "no",
    "facedetection": "retinaface_resnet50",
    "face_restore": "codeformer-v0.1.0.pth",
    "face_restore_weight": 0.75,
    "interpolation": "Bilinear",
    "image_format": "jpeg",
    "image_quality": 95,
    "base64": False,
}


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
