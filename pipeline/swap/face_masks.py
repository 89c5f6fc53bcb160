"""Masks computed on an aligned face crop, combined by minimum as FaceFusion does:

- box: the feathered rectangle (today's paste mask), with blur and per-side padding;
- occlusion: an XSeg model (FaceFusion's xseg_1/2/3.onnx) keeps the face, drops hands, hair, glasses...;
- region: a BiSeNet face parser (FaceFusion's bisenet_resnet_18/34.onnx) keeps only the chosen regions.
Box and occlusion look at the target crop before the swap, region at the swapped crop (FaceFusion's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import BadInput, ModelUnavailable
from ..runtime.onnx_session import fixed_dims, open_session, runtime_name
from ..geometry.box_mask import box_mask
from ..options import DEFAULTS

MASK_TYPES = ("box", "occlusion", "region")
# CelebAMask-HQ class ids of the BiSeNet parsers' 19 outputs (FaceFusion's face_mask_region_set)
REGION_IDS = {"skin": 1, "left-eyebrow": 2, "right-eyebrow": 3, "left-eye": 4, "right-eye": 5, "glasses": 6,
              "nose": 10, "mouth": 11, "upper-lip": 12, "lower-lip": 13}
XSEG_SIZE, BISENET_SIZE = 256, 512
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _names(text: str | tuple | list, allowed, what: str) -> tuple[str, ...]:
    """'a,b' or 'a+b' (or a sequence) -> ('a', 'b'), each checked against allowed."""
    if isinstance(text, str):
        items = [t.strip() for t in text.replace("+", ",").split(",")]
    else:
        items = [str(t).strip() for t in text]
    items = [t for t in items if t]
    unknown = [t for t in items if t not in allowed]
    if unknown or not items:
        raise BadInput(f"{what}: {', '.join(map(repr, unknown)) or 'nothing'} given; use a comma-separated list "
                       f"of {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))


def parse_mask_types(text) -> tuple[str, ...]:
    return _names(text, MASK_TYPES, "face_mask_types")


def parse_regions(text) -> tuple[str, ...]:
    if isinstance(text, str) and text.strip().lower() == "all":
        return tuple(REGION_IDS)
    return _names(text, tuple(REGION_IDS), "face_mask_regions")


def parse_padding(text) -> tuple[int, int, int, int]:
    """'10' (all sides) or '10,0,0,0' (top, right, bottom, left), percent of the crop, 0..100."""
    parts = [p.strip() for p in str(text).split(",")] if not isinstance(text, (tuple, list)) else list(text)
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 4
    if len(values) != 4 or not all(0 <= v <= 100 for v in values):
        raise BadInput(f"face_mask_padding: {text!r} is not one whole percent 0..100 or four of them "
                       "(top,right,bottom,left), e.g. 0,0,10,0")
    return tuple(values)


@dataclass(frozen=True)
class MaskOptions:
    types: tuple[str, ...] = ("box",)
    blur: float = DEFAULTS["face_mask_blur"]
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    regions: tuple[str, ...] = tuple(REGION_IDS)
    occluder: str = DEFAULTS["face_occluder_model"]
    parser: str = DEFAULTS["face_parser_model"]

    def __post_init__(self) -> None:
        parse_mask_types(self.types)
        parse_regions(self.regions)
        parse_padding(self.padding)
        if isinstance(self.blur, bool) or not isinstance(self.blur, (int, float)) or not 0 <= self.blur <= 0.5:
            raise BadInput(f"face_mask_blur must be a number from 0 to 0.5, got {self.blur!r}")

    @classmethod
    def from_widgets(cls, types: str = DEFAULTS["face_mask_types"], blur: float = DEFAULTS["face_mask_blur"],
                     padding: str = DEFAULTS["face_mask_padding"], regions: str = DEFAULTS["face_mask_regions"],
                     occluder: str = DEFAULTS["face_occluder_model"],
                     parser: str = DEFAULTS["face_parser_model"]) -> "MaskOptions":
        return cls(parse_mask_types(types), float(blur), parse_padding(padding), parse_regions(regions),
                   occluder, parser)


def soften(mask: np.ndarray) -> np.ndarray:
    """FaceFusion's edge treatment for model masks: blur (sigma 5 px), then keep the inner half of the ramp."""
    import cv2

    return (cv2.GaussianBlur(mask.clip(0, 1), (0, 0), 5).clip(0.5, 1) - 0.5) * 2


def _session(path: Path, what: str, expected: str, check: Callable[[list, list], bool]):
    try:
        session = open_session(path, "mask")
    except Exception as exc:  # noqa: BLE001 - any load failure means an unusable file
        raise ModelUnavailable(f"{Path(path).name} is not a readable ONNX model ({exc})") from None
    inputs = [fixed_dims(i.shape) for i in session.get_inputs()]
    outputs = [fixed_dims(o.shape) for o in session.get_outputs()]
    if not check(inputs, outputs):
        raise ModelUnavailable(f"{Path(path).name} is not {what}: expected {expected}, got inputs {inputs} and "
                               f"outputs {outputs}".replace("None", "?"))
    return session


class Occluder:
    """XSeg's interface: input [1,256,256,3] BGR 0..1 (NHWC) -> [1,256,256,1] face probability."""

    def __init__(self, path: Path) -> None:
        self.session = _session(path, "an XSeg occlusion model", "input [1,256,256,3] and output [1,256,256,1]",
                                lambda i, o: len(i) == 1 and i[0][1:] == (XSEG_SIZE, XSEG_SIZE, 3)
                                and len(o[0]) in (3, 4) and o[0][1:3] == (XSEG_SIZE, XSEG_SIZE))
        self.name = Path(path).name
        self.runs_on = runtime_name(self.session)

    @staticmethod
    def prepare(crop: np.ndarray) -> np.ndarray:
        """RGB uint8 crop -> the model's input."""
        import cv2

        small = cv2.resize(crop, (XSEG_SIZE, XSEG_SIZE))[:, :, ::-1]
        return np.ascontiguousarray(small[None].astype(np.float32) / 255.0)

    def mask(self, crop: np.ndarray) -> np.ndarray:
        import cv2

        out = self.session.run(None, {self.session.get_inputs()[0].name: self.prepare(crop)})[0][0]
        out = out.reshape(XSEG_SIZE, XSEG_SIZE).clip(0, 1).astype(np.float32)
        return soften(cv2.resize(out, crop.shape[1::-1]))


class Parser:
    """BiSeNet's interface: input [1,3,512,512] RGB, ImageNet-normalised -> [1,19,512,512] class logits."""

    def __init__(self, path: Path) -> None:
        self.session = _session(path, "a BiSeNet face parser", "input [1,3,512,512] and output [1,19,512,512]",
                                lambda i, o: len(i) == 1 and i[0][1:] == (3, BISENET_SIZE, BISENET_SIZE)
                                and o[0][1:] == (19, BISENET_SIZE, BISENET_SIZE))
        self.name = Path(path).name
        self.runs_on = runtime_name(self.session)

    @staticmethod
    def prepare(crop: np.ndarray) -> np.ndarray:
        import cv2

        small = cv2.resize(crop, (BISENET_SIZE, BISENET_SIZE)).astype(np.float32) / 255.0
        return np.ascontiguousarray(((small - _IMAGENET_MEAN) / _IMAGENET_STD).transpose(2, 0, 1)[None])

    def mask(self, crop: np.ndarray, regions: tuple[str, ...]) -> np.ndarray:
        import cv2

        logits = self.session.run(None, {self.session.get_inputs()[0].name: self.prepare(crop)})[0][0]
        chosen = np.isin(logits.argmax(0), [REGION_IDS[r] for r in regions]).astype(np.float32)
        return soften(cv2.resize(chosen, crop.shape[1::-1]))


@dataclass
class FaceMasker:
    """The options plus the models they need (loaded by the caller: see models.swap_models.SwapModels)."""

    options: MaskOptions = field(default_factory=MaskOptions)
    occluder: Occluder | None = None
    parser: Parser | None = None

    def before_swap(self, crop: np.ndarray) -> list[np.ndarray]:
        masks = []
        if "box" in self.options.types:
            masks.append(box_mask(crop.shape[0], self.options.blur, self.options.padding))
        if "occlusion" in self.options.types:
            masks.append(self.occluder.mask(crop))
        return masks

    def after_swap(self, swapped: np.ndarray) -> list[np.ndarray]:
        return [self.parser.mask(swapped, self.options.regions)] if "region" in self.options.types else []

    @staticmethod
    def combine(masks: list[np.ndarray]) -> np.ndarray:
        return np.minimum.reduce(masks).clip(0, 1).astype(np.float32)
