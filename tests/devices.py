"""Where the product should run each model on the machine the tests run on, by the product's rule
(CUDA when torch sees a CUDA device, else the CPU), so device assertions hold on CPU and GPU machines alike."""

from __future__ import annotations


def cuda_present() -> bool:
    import torch

    return torch.cuda.is_available()


def torch_device_pattern() -> str:
    """A regular expression for the torch device the detectors and restorers pick: cuda (or cuda:N) or cpu."""
    return r"cuda(?::\d+)?" if cuda_present() else "cpu"


def onnx_provider() -> str:
    """The onnxruntime provider a session should land on: CUDA with onnxruntime-gpu and a CUDA device, else CPU."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers() and cuda_present():
        return "CUDAExecutionProvider"
    return "CPUExecutionProvider"
