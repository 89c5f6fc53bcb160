"""The user's mask (a ComfyUI MASK, any batch): where it is 0 the frame never changes."""

from __future__ import annotations

import numpy as np

from .errors import BadInput


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
