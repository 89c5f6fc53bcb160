"""Swapping chosen target faces for source identities in one frame, pasting back only the faces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..geometry.align import swap_matrix, warp_crop
from ..face import Face
from .face_masks import FaceMasker, MaskOptions
from .onnx_swapper import OnnxSwapper
from ..geometry.paste import paste_crop
from ..options import DEFAULTS
from .pixel_boost import check_boost, merge_tiles, parse_pixel_boost, split_tiles


@dataclass(frozen=True)
class SwapOptions:
    """pixel_boost: the size the face is aligned and pasted at ('512x512'); masks: which masks shape the paste."""

    pixel_boost: str = DEFAULTS["pixel_boost"]
    masks: MaskOptions = field(default_factory=MaskOptions)

    def __post_init__(self) -> None:
        parse_pixel_boost(self.pixel_boost)


def swap_face(frame: np.ndarray, target: Face, latent: np.ndarray, swapper: OnnxSwapper, boost: int,
              masker: FaceMasker, keep: np.ndarray | None = None, coverage: np.ndarray | None = None) -> None:
    """Swap one face of frame in place: align at the boost size, swap its N x N sub-images in one batch,
    paste back under the combined masks."""
    matrix = swap_matrix(target.landmarks, boost)
    aligned = warp_crop(frame, matrix, boost)
    masks = masker.before_swap(aligned)
    swapped = merge_tiles(swapper.swap_tiles(split_tiles(aligned, swapper.crop_size), latent))
    masks += masker.after_swap(swapped)
    paste_crop(frame, swapped, matrix, mask=masker.combine(masks), in_place=True, keep=keep, coverage=coverage)


def swap_frame(rgb: np.ndarray, pairs: list[tuple[Face, np.ndarray]], swapper: OnnxSwapper,
               boost: int | None = None, masker: FaceMasker | None = None, keep: np.ndarray | None = None,
               coverage: np.ndarray | None = None, on_face: Callable[[], None] | None = None) -> np.ndarray:
    """Replace each target face with the identity of its normed source embedding, face by face (a copy;
    rgb itself when there is nothing to swap).

    boost: pixel-boost size (default: the model's crop); keep: the user's mask (0 = never change);
    coverage: a float (H, W) array that receives the union of the paste weights; on_face(): after each
    face (progress; it may raise to cancel)."""
    boost = boost or swapper.crop_size
    check_boost(boost, swapper.crop_size, swapper.name)
    masker = masker or FaceMasker()
    out = rgb.copy() if pairs else rgb
    for target, embedding in pairs:
        swap_face(out, target, swapper.latent(embedding), swapper, boost, masker, keep, coverage)
        if on_face:
            on_face()
    return out
