"""An OpenVINO compiled model behind onnxruntime's session interface (get_inputs, get_outputs, run,
get_providers), so the pack's model classes and insightface's run it unchanged. OpenVINO reads the .onnx
file itself; precision is its INFERENCE_PRECISION_HINT (bf16 runs on the CPU's AVX-512-BF16/AMX units)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

OPENVINO_PROVIDER = "OpenVINO"  # what get_providers() answers, so active_provider() never reads it as onnxruntime's
_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)", "i64": "tensor(int64)", "i32": "tensor(int32)",
          "u8": "tensor(uint8)", "boolean": "tensor(bool)", "f64": "tensor(double)"}


@dataclass(frozen=True)
class PortInfo:
    """onnxruntime's NodeArg, as far as callers read it: name, shape (None for a size left open) and type."""

    name: str
    shape: list
    type: str


_import_lock = threading.Lock()


def import_openvino():
    """The openvino module, imported with its usage telemetry off. `import openvino` loads its converter
    (openvino.tools.ovc), which sends a usage event to Google Analytics at import time unless the user opted
    out or a CI variable is set; the pack never sends anything, so the first import runs with CI=true (the
    telemetry's own off switch, checked before any consent file), then the environment is restored.
    ImportError when openvino is not installed."""
    import os
    import sys

    with _import_lock:
        if "openvino" in sys.modules:
            return sys.modules["openvino"]
        saved = os.environ.get("CI")
        os.environ["CI"] = "true"
        try:
            import openvino
        finally:
            if saved is None:
                os.environ.pop("CI", None)
            else:
                os.environ["CI"] = saved
        return openvino


@lru_cache(maxsize=1)
def openvino_core():
    """One OpenVINO Core per process (it holds the device plug-ins)."""
    return import_openvino().Core()


def _port_info(port) -> PortInfo:
    shape = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
    return PortInfo(port.get_any_name(), shape, _TYPES.get(port.get_element_type().get_type_name(), "tensor(float)"))


class OpenVinoSession:
    """path: an .onnx file. device: OpenVINO's device name ("CPU", "GPU"). precision: fp32, fp16 or bf16.
    threads: the CPU threads it may use (None: OpenVINO's choice). input_size: (width, height) to fix an image
    input's open size to (a detector's session per input size). Calls are serialised (one infer request)."""

    def __init__(self, path: Path, device: str = "CPU", precision: str = "bf16", threads: int | None = None,
                 input_size: tuple[int, int] | None = None) -> None:
        core = openvino_core()
        config = {"INFERENCE_PRECISION_HINT": _HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads and device == "CPU":
            config["INFERENCE_NUM_THREADS"] = int(threads)
        model = core.read_model(str(path))
        if input_size is not None:
            first = model.inputs[0]
            batch, channels = (d.get_length() if d.is_static else 1 for d in list(first.get_partial_shape())[:2])
            model.reshape({first.get_any_name(): [batch, channels, int(input_size[1]), int(input_size[0])]})
        self._compiled = core.compile_model(model, device, config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        self._inputs = [_port_info(p) for p in self._compiled.inputs]
        self._outputs = [_port_info(p) for p in self._compiled.outputs]
        self.device = device
        self.precision = precision
        self.model_path = str(path)

    def get_inputs(self) -> list[PortInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[PortInfo]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return [OPENVINO_PROVIDER]

    def get_provider_options(self) -> dict:
        return {}

    def set_providers(self, providers=None, provider_options=None) -> None:
        """insightface asks for the CPU provider when prepared with ctx_id < 0; this session stays as compiled."""

    def run(self, output_names, input_feed: dict, run_options=None) -> list[np.ndarray]:
        names = list(output_names) if output_names else [o.name for o in self._outputs]
        feed = {name: np.ascontiguousarray(value) for name, value in input_feed.items()}
        with self._lock:
            self._request.infer(feed)
            return [np.array(self._request.get_tensor(name).data, copy=True) for name in names]
