"""onnxruntime's providers and their options for a runtime choice: TensorRT with its engine cache next to the
models, CUDA as its fallback, CoreML, DirectML, MIGraphX and ROCm on their device, then always the CPU."""

from __future__ import annotations

from pathlib import Path

from .choice import RuntimeChoice
from .trt_cache import engine_cache_dir


def _index(choice: RuntimeChoice) -> int:
    tail = (choice.device or "0").split(":")[-1]
    return int(tail) if tail.isdigit() else 0


def provider_list(choice: RuntimeChoice, model_path: Path | None = None) -> list:
    """onnxruntime's `providers` argument: (name, options) pairs, the CPU last."""
    precision, index = choice.precision, _index(choice)
    if choice.runtime == "tensorrt":
        cache = str(engine_cache_dir(Path(model_path) if model_path else Path.cwd(), index))
        options = {"device_id": index, "trt_engine_cache_enable": True, "trt_engine_cache_path": cache,
                   "trt_timing_cache_enable": True, "trt_timing_cache_path": cache,
                   "trt_fp16_enable": precision == "fp16"}
        if model_path:
            options["trt_engine_cache_prefix"] = Path(model_path).stem.replace(".", "_")
        head = [("TensorrtExecutionProvider", options), ("CUDAExecutionProvider", {"device_id": index})]
    elif choice.runtime == "onnxruntime" and (choice.device or "cpu").startswith("cuda"):
        head = [("CUDAExecutionProvider", {"device_id": index})]
    elif choice.runtime == "coreml":
        options = {"ModelFormat": "MLProgram", "MLComputeUnits": "ALL", "RequireStaticInputShapes": "0"}
        if precision == "fp16":
            options["AllowLowPrecisionAccumulationOnGPU"] = "1"
        head = [("CoreMLExecutionProvider", options)]
    elif choice.runtime == "directml":
        head = [("DmlExecutionProvider", {"device_id": index})]
    elif choice.runtime == "migraphx":
        head = [("MIGraphXExecutionProvider", {"device_id": index, "migraphx_fp16_enable": precision == "fp16"})]
    elif choice.runtime == "rocm":
        head = [("ROCMExecutionProvider", {"device_id": index})]
    else:
        head = []
    return [*head, ("CPUExecutionProvider", {})]


def split_providers(pairs: list) -> tuple[list[str], list[dict]]:
    """onnxruntime.InferenceSession's providers= and provider_options= from (name, options) pairs."""
    return [name for name, _ in pairs], [options for _, options in pairs]
