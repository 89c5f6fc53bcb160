"""ComfyUI IMAGE tensors ([B, H, W, C] float 0..1) to and from RGB uint8 arrays."""

from __future__ import annotations

import numpy as np


def image_to_frames(image) -> list[np.ndarray]:
    """Each frame of an IMAGE batch as an (H, W, 3) uint8 array (alpha dropped, grey expanded)."""
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim == 3:
        array = array[None]
    frames = []
    for frame in array:
        if frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)
        frames.append(np.clip(frame[..., :3] * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return frames


def frames_to_image(frames: list[np.ndarray]):
    import torch

    return torch.from_numpy(np.stack([f.astype(np.float32) / 255.0 for f in frames]))
