"""Where torch models run: the one rule the detectors and restorers share."""

from __future__ import annotations


def torch_device(device: str | None = None):
    """torch.device(device), or CUDA when torch sees a CUDA device and none was asked for, else the CPU."""
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
