"""Swapping chosen target faces for source identities in one frame, pasting back only the faces."""

from __future__ import annotations

import numpy as np

from .align import arcface_matrix, warp_crop
from .face import Face
from .paste import paste_crop
from .swapper import CROP_SIZE, InSwapper


def swap_frame(rgb: np.ndarray, pairs: list[tuple[Face, np.ndarray]], swapper: InSwapper) -> np.ndarray:
    """Replace each target face with the identity of its normed source embedding."""
    out = rgb.copy()
    for target, embedding in pairs:
        matrix = arcface_matrix(target.landmarks, CROP_SIZE)
        aligned = warp_crop(out, matrix, CROP_SIZE)
        swapped = swapper.swap_crop(aligned, swapper.latent(embedding))
        paste_crop(out, swapped, matrix, in_place=True)
    return out
