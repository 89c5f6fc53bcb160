"""Pasting aligned crops back into a frame held as a torch tensor, on the device the crops were made on (the
restorer's GPU): the frame goes up once and comes back once, however many faces it has, and no restored
crop leaves the device. The same steps as paste.paste_crop (only the region the mask covers, a soft blend),
with torch's grid_sample in place of cv2.warpAffine; cv2 rounds sampling positions to 1/32 pixel, so the
two differ by a level or two where the image changes fast. Lanczos has no grid_sample mode: frames pasted
with it stay on the CPU path (TORCH_MODES)."""

from __future__ import annotations

import numpy as np

from .box_mask import box_mask
from .paste import mask_support, crop_region

TORCH_MODES = {0: "nearest", 1: "bilinear", 2: "bicubic"}  # cv2 flag -> grid_sample mode


def to_device(array: np.ndarray, device):
    """A numpy array (frames, crops, masks) as a float32 tensor on device."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array)).to(device).float()


def frame_from_device(frame, out: np.ndarray) -> np.ndarray:
    """Write the (H, W, 3) float tensor into out (uint8), rounded and clipped as cv2 saturates."""
    import torch

    out[...] = frame.round().clamp_(0, 255).to(torch.uint8).cpu().numpy()
    return out


def paste_device(device, interpolation: int):
    """Where restore_frames pastes: the restorer's device when it is a GPU and the interpolation has a
    grid_sample mode; None (cv2 on the CPU) otherwise."""
    return device if getattr(device, "type", None) == "cuda" and interpolation in TORCH_MODES else None


def paste_crop_torch(frame, crop, matrix: np.ndarray, interpolation: int = 1, mask: np.ndarray | None = None,
                     keep=None, coverage=None) -> None:
    """Blend crop ((S, S, 3) float tensor, aligned by matrix) into frame ((H, W, 3) float tensor) in place;
    keep / coverage as in paste.paste_crop, as (H, W) tensors on the frame's device."""
    import torch
    import torch.nn.functional as F

    size = crop.shape[0]
    mask = box_mask(size) if mask is None else mask
    region = crop_region(matrix, mask_support(mask), tuple(frame.shape))
    if region is None:
        return
    x0, y0, x1, y1 = region
    device = frame.device
    # every region pixel's position in the crop (matrix maps frame -> crop), as grid_sample's [-1, 1]
    ys, xs = torch.meshgrid(torch.arange(y0, y1, device=device, dtype=torch.float32),
                            torch.arange(x0, x1, device=device, dtype=torch.float32), indexing="ij")
    m = torch.as_tensor(np.asarray(matrix, np.float32), device=device)
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    grid = torch.stack([u * (2.0 / (size - 1)) - 1.0, v * (2.0 / (size - 1)) - 1.0], dim=-1)[None]
    warped = F.grid_sample(crop.permute(2, 0, 1)[None], grid, mode=TORCH_MODES[interpolation],
                           padding_mode="zeros", align_corners=True)[0].permute(1, 2, 0)
    mask_t = torch.tensor(mask, dtype=torch.float32, device=device)  # a copy: box_mask is read-only
    alpha = F.grid_sample(mask_t[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0, 0]
    if keep is not None:
        alpha = alpha * keep[y0:y1, x0:x1]
    if coverage is not None:
        torch.maximum(coverage[y0:y1, x0:x1], alpha, out=coverage[y0:y1, x0:x1])
    roi = frame[y0:y1, x0:x1]
    a = alpha[..., None]
    roi.copy_(warped * a + roi * (1.0 - a))


class DeviceFrames:
    """The frames a restore pastes into, each sent to device at its first paste (with its keep and coverage
    masks) and written back into the numpy frame by finish()."""

    def __init__(self, frames: list[np.ndarray], masks: list | None, device) -> None:
        self.frames, self.masks, self.device = frames, masks, device
        self.held: dict[int, tuple] = {}

    def paste(self, k: int, crop, matrix: np.ndarray, interpolation: int) -> None:
        """crop: an (S, S, 3) float tensor in 0..255 on the device."""
        if k not in self.held:
            keep, coverage = self.masks[k] if self.masks else (None, None)
            self.held[k] = (to_device(self.frames[k], self.device),
                            None if keep is None else to_device(keep, self.device),
                            None if coverage is None else to_device(coverage, self.device))
        frame, keep, coverage = self.held[k]
        paste_crop_torch(frame, crop, matrix, interpolation, keep=keep, coverage=coverage)

    def finish(self) -> None:
        for k, (frame, _, coverage) in self.held.items():
            frame_from_device(frame, self.frames[k])
            if coverage is not None:
                self.masks[k][1][...] = coverage.cpu().numpy()
        self.held.clear()
