"""What this machine offers the runtime choice: the torch device (inside ComfyUI, ComfyUI's), onnxruntime's
providers, OpenVINO's devices and whether the CPU has BF16 units, and the versions a warning names."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Platform:
    """device: torch's device name ("cpu", "cuda:0", "mps", "xpu:0", "privateuseone:0" for torch-directml).
    device_from_host: the device was set by the host (ComfyUI), so "cpu" there means the user chose the CPU.
    providers: onnxruntime.get_available_providers(). openvino_devices: None when openvino is not installed.
    cpu_bf16: the CPU has BF16 matrix/vector units. rocm: torch is a ROCm build (its "cuda" is an AMD GPU).
    cuda_provider_loads: onnxruntime's CUDA provider placed a session on the GPU (None: not tried)."""

    device: str = "cpu"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    openvino_devices: tuple[str, ...] | None = None
    cpu_bf16: bool = False
    rocm: bool = False
    device_from_host: bool = False
    cuda_provider_loads: bool | None = None
    versions: dict = field(default_factory=dict, compare=False)

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def device_index(self) -> str:
        return self.device.split(":")[1] if ":" in self.device else "0"


def cpu_flags_bf16(cpuinfo: str) -> bool:
    """Whether /proc/cpuinfo's text lists a BF16 unit (AVX-512-BF16 or AMX-BF16)."""
    flags = {word for line in cpuinfo.splitlines() if line.startswith("flags") for word in line.split()}
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def _openvino_facts() -> tuple[tuple[str, ...] | None, bool | None, str | None]:
    """(devices, CPU BF16 capability, version), or (None, None, None) without openvino."""
    from .openvino_session import import_openvino, openvino_core

    try:
        openvino = import_openvino()
    except ImportError:
        return None, None, None

    core = openvino_core()
    devices = tuple(core.available_devices)
    bf16 = "CPU" in devices and "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return devices, bf16, openvino.__version__.split("-")[0]


def _read_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:  # macOS, Windows
        return ""


def _cuda_provider_loads() -> bool:
    """Whether onnxruntime really places a (one-node) session on CUDA: the provider may be listed and still
    fail to load its CUDA libraries, then onnxruntime runs on the CPU with only a log line."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [value],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CUDAExecutionProvider",
                                                                            "CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any failure means the provider does not load
        return False
    return session.get_providers()[0] == "CUDAExecutionProvider"


def host_device() -> str | None:
    """The device of the application hosting the pack when it has one loaded (ComfyUI's
    comfy.model_management, looked up in sys.modules, never imported here), else None."""
    host = sys.modules.get("comfy.model_management")
    return str(host.get_torch_device()) if host is not None else None


def _torch_facts(device: str | None) -> tuple[str, bool, bool, dict]:
    import torch

    from .devices import torch_device

    from_host = host_device() if device is None else None
    chosen = device or from_host or str(torch_device())
    cuda = torch.cuda.is_available()
    versions = {"torch": torch.__version__.split("+")[0], "torch_cuda": torch.version.cuda}
    return chosen, device is not None or from_host is not None, bool(cuda and torch.version.hip), versions


@lru_cache(maxsize=4)
def detect_platform(device: str | None = None) -> Platform:
    """This process's platform (once per device asked for). device: a torch device name the caller runs on;
    None: ComfyUI's device inside ComfyUI, else CUDA when torch sees one, else the CPU."""
    import onnxruntime as ort

    chosen, from_host, rocm, versions = _torch_facts(device)
    providers = tuple(ort.get_available_providers())
    ov_devices, ov_bf16, ov_version = _openvino_facts()
    cpu_bf16 = ov_bf16 if ov_bf16 is not None else cpu_flags_bf16(_read_cpuinfo())
    loads = None
    if chosen.startswith("cuda") and not rocm and "CUDAExecutionProvider" in providers:
        loads = _cuda_provider_loads()
    versions = {**versions, "onnxruntime": ort.__version__, "openvino": ov_version}
    return Platform(chosen, providers, ov_devices, cpu_bf16, rocm, from_host, loads, versions)
