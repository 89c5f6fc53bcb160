"""Pasting an aligned crop back into the frame: only inside the face's region, with a soft mask.

insightface's own paste-back warps, erodes and blurs masks the size of the whole frame; here every
step runs on the crop or on the small region of the frame the crop covers. frame_masks: the user's
mask (a ComfyUI MASK, any batch) as the per-frame `keep` paste_crop takes (0 = the frame never changes).
"""

from __future__ import annotations

import numpy as np

from ..errors import BadInput
from .box_mask import box_mask


def mask_support(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) of the mask's non-zero pixels, in crop coordinates."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def crop_region(matrix: np.ndarray, box: tuple[int, int, int, int],
                frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The frame box (x0, y0, x1, y1) that a box of the crop covers once mapped back, or None if off-frame."""
    import cv2

    inverse = cv2.invertAffineTransform(matrix)
    bx0, by0, bx1, by1 = box
    corners = np.array([[bx0, by0, 1], [bx1, by0, 1], [bx0, by1, 1], [bx1, by1, 1]], np.float32) @ inverse.T
    h, w = frame_shape[:2]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def paste_crop(frame: np.ndarray, crop: np.ndarray, matrix: np.ndarray, interpolation: int = 1,
               mask: np.ndarray | None = None, in_place: bool = False, keep: np.ndarray | None = None,
               coverage: np.ndarray | None = None) -> np.ndarray:
    """Blend crop (aligned by matrix) into frame (a copy unless in_place); only the pixels under the
    mask, mapped back, can change. keep: a frame-size 0..1 mask that scales the blend (0 = never
    change); coverage: a frame-size float array that receives the maximum of the blend weights."""
    import cv2

    out = frame if in_place else frame.copy()
    mask = box_mask(crop.shape[0]) if mask is None else mask
    region = crop_region(matrix, mask_support(mask), frame.shape)
    if region is None:
        return out
    x0, y0, x1, y1 = region
    inverse = cv2.invertAffineTransform(matrix)
    inverse[:, 2] -= (x0, y0)
    roi_size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(crop, inverse, roi_size, flags=interpolation, borderValue=0.0)
    alpha = cv2.warpAffine(mask, inverse, roi_size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    if keep is not None:
        alpha *= keep[y0:y1, x0:x1]
    if coverage is not None:
        np.maximum(coverage[y0:y1, x0:x1], alpha, out=coverage[y0:y1, x0:x1])
    roi = out[y0:y1, x0:x1]
    roi[...] = cv2.blendLinear(warped, roi, alpha, 1.0 - alpha)
    return out


def frame_masks(mask: np.ndarray | None, frame_count: int, frame_shape: tuple[int, ...]) -> list[np.ndarray] | None:
    """One float32 (H, W) 0..1 mask per frame from a (H, W) or (B, H, W) array, B = 1 or frame_count.
    A mask of another size is refused (it most likely belongs to another image)."""
    if mask is None:
        return None
    array = np.asarray(mask, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise BadInput(f"mask must be [H, W] or [B, H, W], got shape {list(array.shape)}")
    if len(array) not in (1, frame_count):
        raise BadInput(f"mask has {len(array)} frames but the image has {frame_count}; "
                       f"give one mask for all frames or one per frame")
    height, width = frame_shape[:2]
    if array.shape[1:] != (height, width):
        raise BadInput(f"mask is {array.shape[2]}x{array.shape[1]} but the image is {width}x{height}; "
                       "refused, not resized: scale the mask to the image first")
    array = np.clip(array, 0.0, 1.0)
    return [array[0]] * frame_count if len(array) == 1 else list(array)
