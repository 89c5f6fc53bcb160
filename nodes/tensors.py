"""ComfyUI IMAGE tensors ([B, H, W, C] float 0..1) to and from RGB uint8 arrays."""

from __future__ import annotations

import numpy as np

from ..pipeline.frame_pipeline import LazyFrames


def _as_array(image) -> np.ndarray:
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    return array[None] if array.ndim == 3 else array


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    return np.clip(frame[..., :3] * 255.0 + 0.5, 0, 255).astype(np.uint8)


def image_to_frames(image) -> list[np.ndarray]:
    """Each frame of an IMAGE batch as an (H, W, 3) uint8 array (alpha dropped, grey expanded)."""
    return [_to_uint8(frame) for frame in _as_array(image)]


def image_to_lazy_frames(image) -> LazyFrames:
    """image_to_frames, each frame converted when the pipeline first asks for it."""
    array = _as_array(image)
    return LazyFrames(len(array), (*array.shape[1:3], 3), lambda i: _to_uint8(array[i]))


def frames_to_image(frames: list[np.ndarray]):
    import torch

    return torch.from_numpy(np.stack([f.astype(np.float32) / 255.0 for f in frames]))


def mask_to_array(mask) -> np.ndarray | None:
    """A ComfyUI MASK ([B, H, W] or [H, W] float 0..1) as a float32 array, or None."""
    if mask is None:
        return None
    return (mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)).astype(np.float32)


def arrays_to_mask(masks: list[np.ndarray]):
    """(H, W) float arrays -> a ComfyUI MASK [B, H, W]."""
    import torch

    return torch.from_numpy(np.stack([m.astype(np.float32) for m in masks]))
