"""onnxruntime sessions with explicit providers and thread counts (threads.py), a report of which provider
really runs, and their inputs' and outputs' fixed sizes."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelUnavailable


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


def insightface_model(path: Path, model_class: str, what: str, providers: list[str] | None = None, *, role: str):
    """insightface's model_zoo model for the file (it recognises the kind by the graph's shapes), which must be
    a model_class (SCRFD, ArcFaceONNX, Attribute...); else ModelUnavailable saying what the file should be.
    Its session gets this role's threads (session_arguments)."""
    from insightface import model_zoo

    if not Path(path).is_file():  # model_zoo would raise a bare AssertionError
        raise ModelUnavailable(f"{Path(path).name} not found")
    model = model_zoo.get_model(str(path), **session_arguments(role, providers))
    if not isinstance(model, getattr(model_zoo, model_class)):
        raise ModelUnavailable(f"{path} is not {what} (insightface sees {type(model).__name__})")
    return model


def fixed_dims(shape) -> tuple:
    """An ONNX input's or output's shape with every dimension that is not a fixed size (a name, None, 0
    or -1) as None."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


def active_provider(session) -> str:
    """The provider onnxruntime actually placed the session on (it falls back silently)."""
    return session.get_providers()[0]


def session_arguments(role: str, providers: list[str] | None = None) -> dict:
    """providers and sess_options (this role's threads, see threads.py) for onnxruntime.InferenceSession
    or insightface's get_model."""
    from .threads import session_options

    providers = providers or default_providers()
    return {"providers": providers, "sess_options": session_options(role, providers)}
