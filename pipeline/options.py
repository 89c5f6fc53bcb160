"""Every option, written down once: its values, default, type, range, and whether the request record carries
it. The hosted API's parameters first, then this pack's extensions. The request record (params.py), the
widgets (nodes/widgets.py), the CLI's flags (cli/swap.py) and the server's validation are derived from these
entries: adding an API parameter is one entry in API_OPTIONS plus the code that uses its value."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import BadInput
from .models.registry import DETECTORS

FACE_ORDERS = ("large-small", "small-large", "top-bottom", "bottom-top", "left-right", "right-left")
GENDER_FILTERS = ("no", "female", "male")
API_DETECTORS = tuple(detector.name for detector in DETECTORS if detector.api)
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
# facedetection beyond the API's four: the other registered detectors, or an SCRFD file's name in facedetection/.
EXTRA_DETECTORS = tuple(detector.name for detector in DETECTORS if not detector.api)
DETECTOR_FILE_SUFFIXES = (".onnx",)


@dataclass(frozen=True)
class Option:
    """default: its value when not given (its type is the option's type). choices: the allowed values,
    where they are a fixed list; also: further accepted values; file_suffixes: a file name with one of these
    endings is accepted too. low/high: a number's range, inclusive; step: a widget's step. request: an
    extension the request record (FaceswapParams) carries (API parameters always are); omit_at_default:
    left out of the record's mapping at its default (an extension the hosted API would not know)."""

    default: Any
    choices: tuple = ()
    also: tuple = ()
    file_suffixes: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    request: bool = False
    omit_at_default: bool = False

    @property
    def kind(self) -> type:
        return type(self.default)

    def check_type(self, name: str, value: Any) -> None:
        """BadInput unless value has the option's type (and, for a number, lies in its range)."""
        kind = self.kind
        if kind is str and not isinstance(value, str):
            raise BadInput(f"{name} must be a string, got {'null' if value is None else type(value).__name__}")
        if kind is bool and not isinstance(value, bool):
            raise BadInput(f"{name} must be true or false, got {value!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or not self._in_range(value)):
            raise BadInput(f"{name} must be a whole number from {self.low:g} to {self.high:g}, got {value!r}")
        if kind is float and (isinstance(value, bool) or not isinstance(value, Real) or not self._in_range(value)):
            raise BadInput(f"{name} must be a number from {self.low:g} to {self.high:g}, got {value!r}")

    def check(self, name: str, value: Any) -> Any:
        """value, if it is allowed; else BadInput saying what is."""
        self.check_type(name, value)
        if self.choices and value not in self.choices and value not in self.also and not (
                self.file_suffixes and value.lower().endswith(self.file_suffixes)):
            check_choice(name, value, self.choices)
        return value

    def _in_range(self, value: Real) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


# The hosted API's parameters (besides the two images), in its documented order.
API_OPTIONS = {
    "input_faces_index": Option("0"),
    "source_faces_index": Option("0"),
    "detection_face_order": Option("large-small", FACE_ORDERS),
    "detect_gender_input": Option("no", GENDER_FILTERS),
    "detect_gender_source": Option("no", GENDER_FILTERS),
    "facedetection": Option("retinaface_resnet50", API_DETECTORS, also=EXTRA_DETECTORS,
                            file_suffixes=DETECTOR_FILE_SUFFIXES),
    "face_restore": Option("codeformer-v0.1.0.pth", RESTORERS, file_suffixes=RESTORER_SUFFIXES),
    "face_restore_weight": Option(0.75, low=0.0, high=1.0, step=0.01),
    "interpolation": Option("Bilinear", INTERPOLATIONS),
    "image_format": Option("jpeg", IMAGE_FORMATS),
    "image_quality": Option(95, low=10, high=100, step=1),
    "base64": Option(False),
}
EXTENSIONS = {
    # 128x128: the hosted API's behaviour
    "pixel_boost": Option("128x128", BOOST_SIZES, request=True, omit_at_default=True),
    "face_mask_types": Option("box", MASK_TYPE_CHOICES),
    "face_mask_blur": Option(0.05, low=0.0, high=0.5, step=0.01),  # the box mask's feathered edge, a fraction of the crop
    "face_mask_padding": Option("0"),
    "face_mask_regions": Option("all"),
    "face_occluder_model": Option("xseg_1.onnx"),
    "face_parser_model": Option("bisenet_resnet_34.onnx"),
    # CodeFormer's `weight`: 0 = strongest restoration, 1 = closest to the input
    "codeformer_fidelity": Option(0.5, low=0.0, high=1.0, step=0.01),
    "face_selector": Option("index", FACE_SELECTORS),
    # ArcFace cosine distance; 0.6 (similarity 0.4) as in FaceFusion
    "reference_distance": Option(0.6, low=0.0, high=2.0, step=0.01),
    "compute_method": Option("mean", COMPUTE_METHODS),
    "track_faces": Option(False),
    # re-embed every swapped face for face_similarity: one recognizer call per face; off keeps the API's cost
    "measure_similarity": Option(False, request=True, omit_at_default=True),
    "content_check": Option("on", CONTENT_CHECK_SETTINGS),  # the nodes' content check (an installed classifier)
}


def request_options() -> dict[str, Option]:
    """The options the request record carries, in order: every API parameter, then the extensions it takes."""
    return {**API_OPTIONS, **{name: option for name, option in EXTENSIONS.items() if option.request}}


class _Defaults(Mapping):
    """Every option's default by name, read from the entries (so an entry added later has one too)."""

    def __getitem__(self, name: str) -> Any:
        return (API_OPTIONS.get(name) or EXTENSIONS[name]).default

    def __iter__(self) -> Iterator[str]:
        return iter({**API_OPTIONS, **EXTENSIONS})

    def __len__(self) -> int:
        return len({**API_OPTIONS, **EXTENSIONS})


DEFAULTS: Mapping[str, Any] = _Defaults()
API_PARAMETERS = tuple(API_OPTIONS)


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
    return API_OPTIONS["face_restore_weight"].check("face_restore_weight", weight)
