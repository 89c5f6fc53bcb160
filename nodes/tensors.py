"""ComfyUI IMAGE tensors ([B, H, W, C], 0..1) to and from RGB uint8 arrays."""

from __future__ import annotations

import numpy as np

from ..pipeline.runtime.read_ahead import LazyFrames


def _batch(image):
    """An IMAGE as a batch: a torch tensor stays a tensor (any dtype, any device), anything else numpy."""
    batch = image.detach() if hasattr(image, "detach") else np.asarray(image)
    return batch[None] if batch.ndim == 3 else batch


def _frame_to_uint8(frame) -> np.ndarray:
    """One (H, W, C) float frame (float32, float16 or bfloat16; on any device) as (H, W, 3) uint8 RGB,
    alpha dropped and grey expanded. A tensor is quantised where it lies; only uint8 comes to the CPU."""
    if hasattr(frame, "detach"):
        import torch

        if frame.shape[-1] == 1:
            frame = frame.expand(*frame.shape[:-1], 3)
        return frame[..., :3].to(torch.float32).mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
    if frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    return np.clip(frame[..., :3].astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def image_to_frames(image) -> list[np.ndarray]:
    """Each frame of an IMAGE batch as an (H, W, 3) uint8 array. Call once per batch."""
    return [_frame_to_uint8(frame) for frame in _batch(image)]


def image_to_lazy_frames(image) -> LazyFrames:
    """image_to_frames, each frame converted when the pipeline first asks for it."""
    batch = _batch(image)
    return LazyFrames(len(batch), (*batch.shape[1:3], 3), lambda i: _frame_to_uint8(batch[i]))


def frames_to_image(frames: list[np.ndarray], release: bool = False):
    """(H, W, 3) uint8 frames -> an IMAGE [B, H, W, 3] float32 in 0..1, written frame by frame into one
    preallocated tensor: the peak is the output plus one frame (a video batch's output is the size of its
    input). release: each list entry is set to None once copied, so a frame's memory goes back while the
    output fills (the caller must not need the frames afterwards)."""
    import torch

    if not frames:
        raise ValueError("no frames to make an IMAGE of")
    out = torch.empty((len(frames), *frames[0].shape[:2], 3), dtype=torch.float32)
    for i in range(len(frames)):
        out[i].copy_(torch.from_numpy(np.ascontiguousarray(frames[i]))).div_(255.0)
        if release:
            frames[i] = None
    return out


def mask_to_array(mask) -> np.ndarray | None:
    """A ComfyUI MASK ([B, H, W] or [H, W] float 0..1) as a float32 array, or None."""
    if mask is None:
        return None
    if hasattr(mask, "detach"):
        import torch

        return mask.detach().to(torch.float32).cpu().numpy()
    return np.asarray(mask).astype(np.float32)


def arrays_to_mask(masks: list[np.ndarray], release: bool = False):
    """(H, W) float arrays -> a ComfyUI MASK [B, H, W] float32, filled mask by mask into one preallocated tensor.
    release: as frames_to_image's."""
    import torch

    if not masks:
        raise ValueError("no masks to make a MASK of")
    out = torch.empty((len(masks), *masks[0].shape[:2]), dtype=torch.float32)
    for i in range(len(masks)):
        out[i].copy_(torch.from_numpy(np.ascontiguousarray(masks[i])))
        if release:
            masks[i] = None
    return out


def unread_mask(count: int, height: int, width: int):
    """A MASK [count, height, width] of zeros for an output nothing reads: one zero expanded to the batch
    (every stride 0), so it costs 4 bytes, not a float32 frame per frame."""
    import torch

    return torch.zeros((1, 1, 1), dtype=torch.float32).expand(count, height, width)
