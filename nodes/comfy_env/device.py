"""The device ComfyUI runs models on, and whether a GPU is there."""

from __future__ import annotations


def model_device() -> str | None:
    """The device ComfyUI runs models on ("cuda:0", "cpu"), or None outside ComfyUI (pipeline.devices decides)."""
    try:
        import comfy.model_management as mm
    except ImportError:
        return None
    return str(mm.get_torch_device())


def gpu_present() -> bool:
    """Whether a GPU is there to use: ComfyUI's device (not --cpu), else torch's view."""
    device = model_device()
    if device is not None:
        return not device.startswith("cpu")
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def runtime_warning() -> str | None:
    """The CUDA install mismatch (torch sees CUDA, onnxruntime cannot run on it) for ComfyUI's device, with
    the onnxruntime build that matches; None when there is none (pipeline/runtime/choice.py)."""
    from ...pipeline.runtime.choice import cuda_mismatch_warning, warn_once
    from ...pipeline.runtime.platform import detect_platform

    return warn_once(cuda_mismatch_warning(detect_platform(model_device())))
