"""Model sessions with explicit runtimes (runtime/choice.py) and thread counts (threads.py), a report of
where each really runs, and their inputs' and outputs' fixed sizes. A session is onnxruntime's
InferenceSession, or an OpenVINO compiled model behind the same interface (runtime/openvino_session.py)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelUnavailable

_PROVIDER_NAMES = {"CPUExecutionProvider": "onnxruntime:cpu", "CUDAExecutionProvider": "onnxruntime:cuda",
                   "TensorrtExecutionProvider": "tensorrt:cuda", "CoreMLExecutionProvider": "coreml",
                   "DmlExecutionProvider": "directml", "MIGraphXExecutionProvider": "migraphx",
                   "ROCMExecutionProvider": "rocm"}


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


def runtime_for(role: str, device: str | None = None):
    """The RuntimeChoice for this model role on this process's platform (runtime/choice.py); the first time,
    a CUDA install mismatch is logged (runtime/choice.cuda_mismatch_warning)."""
    from .choice import choose, cuda_mismatch_warning, warn_once
    from .platform import detect_platform

    platform = detect_platform(device)
    warn_once(cuda_mismatch_warning(platform))
    return choose(role, platform)


def open_session(path: Path, role: str, providers: list[str] | None = None,
                 input_size: tuple[int, int] | None = None):
    """A session for the .onnx file: on the providers given (onnxruntime), else where runtime_for(role) says.
    input_size: (width, height) an OpenVINO session fixes its image input to."""
    import onnxruntime as ort

    choice = None if providers else runtime_for(role)
    if choice is not None and choice.runtime == "openvino":
        from .openvino_session import OpenVinoSession
        from .threads import thread_budget

        threads = thread_budget().threads(role, on_gpu=choice.device != "CPU")[0]
        session = OpenVinoSession(path, choice.device, choice.precision, threads, input_size)
        if choice.probe:
            session, choice = _within_drift_bound(path, role, session, choice)
    elif choice is not None and choice.runtime == "tensorrt":
        from .providers import provider_list, split_providers
        from .trt_cache import open_with_engine_cache

        pairs = provider_list(choice, path)
        names, options = split_providers(pairs)
        arguments = {"providers": names, "provider_options": options,
                     "sess_options": _options(role, names)}
        trt = options[0]
        session = open_with_engine_cache(lambda: ort.InferenceSession(str(path), **arguments),
                                         Path(trt["trt_engine_cache_path"]), trt["trt_engine_cache_prefix"],
                                         Path(path).name)
    else:
        session = ort.InferenceSession(str(path), **session_arguments(role, providers, choice))
    session.faceswap_runtime = choice
    return session


def _within_drift_bound(path: Path, role: str, session, choice):
    """(session, choice) when the session's drift from fp32 on this model is within the bound (runtime/drift.py),
    else an onnxruntime fp32 session and a choice saying why (logged once)."""
    import onnxruntime as ort

    from .choice import RuntimeChoice, warn_once
    from .drift import checked_drift, default_verdicts_file
    from .platform import detect_platform

    version = detect_platform().versions.get("openvino")
    found = checked_drift(path, session, f"{choice.name}|openvino {version}", default_verdicts_file())
    if found.within_bound:
        return session, choice
    kept = RuntimeChoice("onnxruntime", "cpu", "fp32",
                         f"fp32 kept, {choice.precision} drifted past the bound on this model ({found.describe()})")
    warn_once(f"{Path(path).name}: {kept.why}")
    return ort.InferenceSession(str(path), **session_arguments(role, None, kept)), kept


def insightface_model(path: Path, model_class: str, what: str, providers: list[str] | None = None, *, role: str):
    """insightface's model_zoo model for the file (it recognises the kind by the graph's shapes), which must be
    a model_class (SCRFD, ArcFaceONNX, Attribute...); else ModelUnavailable saying what the file should be.
    Its session gets this role's runtime (runtime_for) and threads (session_arguments); an OpenVINO runtime
    replaces the session insightface opened to recognise the file."""
    from insightface import model_zoo

    if not Path(path).is_file():  # model_zoo would raise a bare AssertionError
        raise ModelUnavailable(f"{Path(path).name} not found")
    choice = None if providers else runtime_for(role)
    on_openvino = choice is not None and choice.runtime == "openvino"
    arguments = session_arguments(role, ["CPUExecutionProvider"] if on_openvino else providers, choice)
    model = model_zoo.get_model(str(path), **arguments)
    if not isinstance(model, getattr(model_zoo, model_class)):
        raise ModelUnavailable(f"{path} is not {what} (insightface sees {type(model).__name__})")
    if on_openvino:
        session = open_session(path, role)
        model.session = session
        if hasattr(model, "resolution_session_factory") and session.get_providers() == ["OpenVINO"]:
            # SCRFD runs a session per input size, fixed to it
            model.resolution_session_factory = lambda _file, size, _main: open_session(path, role, input_size=size)
            model._reset_resolution_session_pool()
    else:
        model.session.faceswap_runtime = choice
    return model


def fixed_dims(shape) -> tuple:
    """An ONNX input's or output's shape with every dimension that is not a fixed size (a name, None, 0
    or -1) as None."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


def active_provider(session) -> str:
    """The provider onnxruntime actually placed the session on (it falls back silently); "OpenVINO" for an
    OpenVINO session."""
    return session.get_providers()[0]


def runtime_name(session) -> str:
    """Where the session really runs, as runtime:device:precision ("onnxruntime:cpu:fp32",
    "tensorrt:cuda:0:fp16", "openvino:CPU:bf16"): a provider that fell back to the CPU says cpu."""
    choice = getattr(session, "faceswap_runtime", None)
    name = _where(session, choice)
    return f"{name} ({choice.why})" if choice is not None and choice.why and name == choice.name else name


def _where(session, choice) -> str:
    if hasattr(session, "precision") and hasattr(session, "device"):  # OpenVinoSession
        return f"openvino:{session.device}:{session.precision}"
    provider = active_provider(session)
    base = _PROVIDER_NAMES.get(provider, f"onnxruntime:{provider}")
    if provider == "CPUExecutionProvider":
        return f"{base}:fp32"
    options = session.get_provider_options().get(provider, {})
    index = options.get("device_id", "0")
    precision = choice.precision if choice is not None and choice.provider == provider else "fp32"
    return f"{base}:{index}:{precision}" if base not in ("coreml",) else f"{base}:{precision}"


def _options(role: str, provider_names: list[str]):
    from .threads import session_options

    return session_options(role, provider_names)


def session_arguments(role: str, providers: list[str] | None = None, choice=None) -> dict:
    """providers (with their options) and sess_options (this role's threads, see threads.py) for
    onnxruntime.InferenceSession or insightface's get_model: the providers given, else the choice's
    (runtime/providers.py), else onnxruntime's default ones."""
    if providers:
        return {"providers": providers, "sess_options": _options(role, providers)}
    if choice is not None and choice.runtime != "openvino":
        from .providers import provider_list, split_providers

        names, options = split_providers(provider_list(choice))
        if choice.runtime == "tensorrt":  # insightface's own session: its engine cache is open_session's
            names, options = names[1:], options[1:]
        return {"providers": names, "provider_options": options, "sess_options": _options(role, names)}
    providers = default_providers()
    return {"providers": providers, "sess_options": _options(role, providers)}
