"""onnxruntime sessions with explicit providers, and a report of which provider really runs."""

from __future__ import annotations


def default_providers() -> list[str]:
    """CUDA first when onnxruntime-gpu is installed and a CUDA device exists, then the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = []
    if "CUDAExecutionProvider" in available and _cuda_device_present():
        providers.append("CUDAExecutionProvider")
    providers.append("CPUExecutionProvider")
    return providers


def _cuda_device_present() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


def active_provider(session) -> str:
    """The provider onnxruntime actually placed the session on (it falls back silently)."""
    return session.get_providers()[0]
