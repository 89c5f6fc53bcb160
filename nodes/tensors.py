"""ComfyUI IMAGE tensors ([B, H, W, C], 0..1) to and from RGB uint8 arrays."""

from __future__ import annotations

import numpy as np


def image_to_frames(image) -> list[np.ndarray]:
    """Each frame of an IMAGE batch as an (H, W, 3) uint8 array (alpha dropped, grey expanded).

    Any float dtype (float32, float16, bfloat16) on any device: each frame is quantised where it
    lies and only the uint8 result comes to the CPU. Call once per batch."""
    if not hasattr(image, "detach"):
        return _array_frames(np.asarray(image))
    import torch

    batch = image.detach()
    if batch.ndim == 3:
        batch = batch[None]
    frames = []
    for frame in batch:
        if frame.shape[-1] == 1:
            frame = frame.expand(*frame.shape[:-1], 3)
        quantised = (frame[..., :3].to(torch.float32) * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)
        frames.append(quantised.cpu().numpy())
    return frames


def _array_frames(array: np.ndarray) -> list[np.ndarray]:
    if array.ndim == 3:
        array = array[None]
    frames = []
    for frame in array:
        if frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)
        frames.append(np.clip(frame[..., :3].astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return frames


def frames_to_image(frames: list[np.ndarray]):
    import torch

    return torch.from_numpy(np.stack([f.astype(np.float32) / 255.0 for f in frames]))
