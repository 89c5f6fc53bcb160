"""The feathered rectangle every paste uses: the face's crop kept inside a 10% border."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..options import DEFAULTS


@lru_cache(maxsize=32)
def box_mask(size: int, blur: float = DEFAULTS["face_mask_blur"],
             padding: tuple[int, int, int, int] = (0, 0, 0, 0)) -> np.ndarray:
    """0 over a border of 10% of the crop plus padding% per side (top, right, bottom, left), 1 inside,
    with a Gaussian ramp of blur * size; at the defaults, the mask every paste uses. Read-only: it is cached."""
    import cv2

    base = max(1, round(size * 0.1))
    top, right, bottom, left = (base + round(size * p / 100.0) for p in padding)
    mask = np.zeros((size, size), np.float32)
    if top + bottom < size and left + right < size:
        mask[top:size - bottom, left:size - right] = 1.0
    if blur > 0:
        k = max(3, round(size * blur)) | 1
        mask = cv2.GaussianBlur(mask, (2 * k + 1, 2 * k + 1), 0)
    mask[mask < 1e-3] = 0.0
    mask.setflags(write=False)
    return mask
