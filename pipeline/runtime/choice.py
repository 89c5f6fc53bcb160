"""Where each model role runs and in which precision, chosen once per process from the platform
(platform.py) and the user's setting (FACESWAP_V3_RUNTIME / FACESWAP_V3_PRECISION, or the CLI's --runtime /
--precision, which set them).

`auto` takes the first runtime of the device's list that is installed (NVIDIA: TensorRT, then CUDA; AMD ROCm:
MIGraphX, then ROCm; Apple: CoreML; Intel GPU: OpenVINO GPU; DirectML; then the CPU), in fp32. On the CPU,
OpenVINO runs the roles it was measured faster on (OPENVINO_CPU_AUTO), in bf16 where the CPU has BF16 units and
the model's drift stays within the bound (drift.py, checked per model file when it loads)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Mapping

from ..errors import ModelUnavailable
from .names import RUNTIMES, RuntimeName, check_precision, parse_runtime_setting
from .platform import Platform

RUNTIME_SETTING = "FACESWAP_V3_RUNTIME"
PRECISION_SETTING = "FACESWAP_V3_PRECISION"
# role -> the precisions `auto` runs it in on OpenVINO's CPU device, best first (bf16 needs BF16 units);
# measured against onnxruntime fp32 with bench/runtime_speed.py (2 cores with AMX/AVX-512-BF16, README
# 'Runtimes'): swapper bf16 ~0.55x (OpenVINO f32 no gain), recognizer bf16 ~0.6-0.7x (f32 0.66x in one run,
# 1.11x in another: no clear gain), SCRFD detector f32 ~0.55-0.7x (bf16 moved its outputs by up to 22 levels:
# past the bound), GFPGAN exported to ONNX f32 ~0.5x / bf16 ~0.2-0.35x of torch fp32 (bf16 kept per checkpoint
# by its probe); CodeFormer converted by OpenVINO from torch: f32 ~0.65x of torch fp32 on a 2-core AVX2 CPU
# without BF16 units (torch channels-last was no faster there). On a 2-core AVX-512-BF16 CPU without AMX:
# swapper bf16 0.50x, recognizer bf16 0.83x, SCRFD f32 0.75x, GFPGAN bf16 0.29x / f32 0.59x, CodeFormer f32
# 0.59x (its bf16 flips codebook entries: far past the bound). The gender/age model ran several times SLOWER
# on OpenVINO (a tiny graph: the per-call overhead wins); the mask models were not measured on real-size
# stand-ins. Roles absent here stay on onnxruntime fp32.
OPENVINO_CPU_AUTO = {"swap": ("bf16",), "recognize": ("bf16",), "detect": ("fp32",),
                     "restore": ("bf16", "fp32")}
PROVIDERS = {"onnxruntime:cpu": "CPUExecutionProvider", "onnxruntime:cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider", "coreml": "CoreMLExecutionProvider",
             "directml": "DmlExecutionProvider", "migraphx": "MIGraphXExecutionProvider",
             "rocm": "ROCMExecutionProvider"}
INSTALL = {
    "onnxruntime:cuda": "onnxruntime-gpu (pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu)",
    "tensorrt": "onnxruntime-gpu and TensorRT 10 (pip install onnxruntime-gpu tensorrt-cu12, README 'NVIDIA GPU')",
    "openvino": "openvino (pip install openvino, or the pack's [openvino] extra)",
    "coreml": "onnxruntime for macOS (pip install onnxruntime on an Apple machine ships the CoreML provider)",
    "directml": "onnxruntime-directml (pip uninstall -y onnxruntime && pip install onnxruntime-directml)",
    "migraphx": "onnxruntime-rocm with MIGraphX (AMD's ROCm wheels, README 'AMD GPU')",
    "rocm": "onnxruntime-rocm (AMD's ROCm wheels, README 'AMD GPU')",
}
log = logging.getLogger("faceswap_v3.runtime")


class RuntimeUnavailable(ModelUnavailable):
    """A runtime the user forced is not installed or cannot run here."""


@dataclass(frozen=True)
class RuntimeChoice:
    """runtime: a RUNTIMES key; device: "cpu", "cuda:0", "CPU", "GPU", "0" (directml/migraphx/rocm) or None;
    precision: fp32/fp16/bf16. why: what `info` says about the choice (e.g. why fp32 was kept).
    probe: auto chose a reduced precision, to be kept only if this model's drift is within the bound (drift.py)."""

    runtime: str
    device: str | None
    precision: str
    why: str = ""
    probe: bool = False

    @property
    def name(self) -> str:
        return ":".join(p for p in (self.runtime, self.device, self.precision) if p)

    @property
    def on_gpu(self) -> bool:
        return self.name.split(":")[1] not in ("cpu", "CPU", self.precision)

    @property
    def provider(self) -> str | None:
        """onnxruntime's provider for it, None for OpenVINO (its own session)."""
        if self.runtime == "openvino":
            return None
        key = f"onnxruntime:{self.device.split(':')[0]}" if self.runtime == "onnxruntime" else self.runtime
        return PROVIDERS[key]


def _key(runtime: str, device: str | None) -> str:
    return f"onnxruntime:{(device or 'cpu').split(':')[0]}" if runtime == "onnxruntime" else runtime


def _installed(runtime: str, device: str | None, platform: Platform) -> bool:
    if runtime == "openvino":
        return platform.openvino_devices is not None and (device or "CPU") in platform.openvino_devices
    return PROVIDERS[_key(runtime, device)] in platform.providers


def _gpu_list(platform: Platform) -> list[tuple[str, str | None]]:
    """(runtime, device) in the order auto tries them for the platform's device, before the CPU."""
    kind, index = platform.device_type, platform.device_index
    if kind == "cuda" and platform.rocm:
        return [("migraphx", index), ("rocm", index)]
    if kind == "cuda":
        if platform.cuda_provider_loads is False:
            return []
        return [("tensorrt", f"cuda:{index}"), ("onnxruntime", f"cuda:{index}")]
    if kind == "mps":
        return [("coreml", None)]
    if kind == "xpu":
        return [("openvino", "GPU")]
    if kind == "privateuseone":  # torch-directml inside ComfyUI (--directml)
        return [("directml", index)]
    if kind == "cpu" and not platform.device_from_host:  # standalone: a GPU onnxruntime build the user installed
        return [("coreml", None), ("directml", "0")]
    return []


def _openvino_cpu_precision(role: str, platform: Platform) -> tuple[str | None, str]:
    """(the precision auto runs this role in on OpenVINO's CPU device or None: onnxruntime, why)."""
    wanted = OPENVINO_CPU_AUTO.get(role, ())
    for precision in wanted:
        if precision != "bf16" or platform.cpu_bf16:
            return precision, ""
    return None, "fp32 kept, this CPU has no BF16 units (avx512_bf16, amx_bf16)" if "bf16" in wanted else ""


def _auto_precision(runtime: str, device: str | None, role: str, platform: Platform) -> tuple[str, str]:
    """(precision, why) auto gives this role on this runtime."""
    if (runtime, device) == ("openvino", "CPU"):
        precision, why = _openvino_cpu_precision(role, platform)
        return precision or "fp32", why
    return "fp32", ""


def _with_auto_precision(runtime: str, device: str | None, role: str, platform: Platform) -> RuntimeChoice:
    precision, why = _auto_precision(runtime, device, role, platform)
    return RuntimeChoice(runtime, device, precision, why, probe=precision != "fp32")


def _cpu_choice(role: str, platform: Platform) -> RuntimeChoice:
    if platform.openvino_devices is not None and "CPU" in platform.openvino_devices:
        precision, why = _openvino_cpu_precision(role, platform)
        if precision is not None:
            return RuntimeChoice("openvino", "CPU", precision, probe=precision != "fp32")
        return RuntimeChoice("onnxruntime", "cpu", "fp32", why)
    why = "fp32, pip install openvino to use this CPU's BF16 units" if platform.cpu_bf16 and \
        "bf16" in OPENVINO_CPU_AUTO.get(role, ()) else ""
    return RuntimeChoice("onnxruntime", "cpu", "fp32", why)


def auto_choice(role: str, platform: Platform, precision: str | None = None) -> RuntimeChoice:
    """The first installed runtime for the platform's device (then the CPU) in its auto precision; with
    precision given, the first that runs in it (RuntimeUnavailable when none does)."""
    candidates = [(r, d) for r, d in _gpu_list(platform) if _installed(r, d, platform)]
    choices = [_with_auto_precision(r, d, role, platform) for r, d in candidates]
    choices.append(_cpu_choice(role, platform))
    if precision is None:
        return choices[0]
    if precision == "bf16" and platform.openvino_devices and "CPU" in platform.openvino_devices:
        choices.append(RuntimeChoice("openvino", "CPU", "bf16"))
    for choice in choices:
        if precision in RUNTIMES[choice.runtime][2] and (precision != "bf16" or platform.cpu_bf16):
            if choice.runtime == "openvino" and choice.device == "CPU" and precision == "fp32":
                return RuntimeChoice("onnxruntime", "cpu", "fp32")
            return RuntimeChoice(choice.runtime, choice.device, precision)
    raise RuntimeUnavailable(f"no runtime here runs {role} in {precision} ({_installed_text(platform)}); "
                             f"unset {PRECISION_SETTING} or install a runtime that does (README 'Runtimes')")


def _installed_text(platform: Platform) -> str:
    ov = ", openvino " + "/".join(platform.openvino_devices) if platform.openvino_devices is not None else ""
    return f"onnxruntime lists {', '.join(platform.providers)}{ov}"


def forced_choice(name: RuntimeName, role: str, platform: Platform, precision: str | None) -> RuntimeChoice:
    """The runtime the user named, checked: RuntimeUnavailable in one line naming it and what to install."""
    runtime, device = name.runtime, name.device
    if runtime == "onnxruntime" and device is None:  # onnxruntime on the device as before: CUDA, else the CPU
        device = f"cuda:{platform.device_index}" if (platform.device_type == "cuda" and not platform.rocm and
                                                     platform.cuda_provider_loads is not False and
                                                     _installed("onnxruntime", "cuda", platform)) else "cpu"
    elif runtime in ("directml", "migraphx", "rocm") and device is None:
        device = "0"
    elif runtime == "tensorrt" and ":" not in device:
        device = f"cuda:{platform.device_index}"
    label = ":".join(p for p in (runtime, device) if p)
    if not _installed(runtime, device, platform):
        raise RuntimeUnavailable(f"runtime {label} asked for ({RUNTIME_SETTING}) is not available here "
                                 f"({_installed_text(platform)}); install {INSTALL[_key(runtime, device)]}, "
                                 f"or set {RUNTIME_SETTING}=auto")
    precision = precision or name.precision
    valid = RUNTIMES[runtime][2]
    if precision is None:
        return _with_auto_precision(runtime, device, role, platform)
    if precision not in valid or (precision == "bf16" and not platform.cpu_bf16):
        reason = "this CPU has no BF16 units" if precision in valid else f"it runs {', '.join(valid)}"
        runnable = ", ".join(p for p in valid if p != "bf16" or platform.cpu_bf16)
        raise RuntimeUnavailable(f"precision {precision} asked for on {label} cannot run here ({reason}); "
                                 f"set {PRECISION_SETTING} to one of {runnable} or auto")
    return RuntimeChoice(runtime, device, precision)


def choose(role: str, platform: Platform, environ: Mapping[str, str] | None = None) -> RuntimeChoice:
    """Where this role's model runs: the user's setting (BadInput for an unknown name, RuntimeUnavailable for
    one not installed) or auto."""
    environ = os.environ if environ is None else environ
    names = parse_runtime_setting(environ.get(RUNTIME_SETTING, ""))
    precision = check_precision(environ.get(PRECISION_SETTING, ""))
    name = names.get(role) or names.get("*") or RuntimeName("auto")
    if name.runtime == "auto":
        return auto_choice(role, platform, precision or name.precision)
    return forced_choice(name, role, platform, precision)


def restore_choice(platform: Platform, environ: Mapping[str, str] | None = None) -> RuntimeChoice | None:
    """The OpenVINO runtime a face restorer runs on, or None for torch on its device: restorers are torch
    networks, so only auto and openvino settings apply to them (any other runtime named leaves them on torch)."""
    environ = os.environ if environ is None else environ
    names = parse_runtime_setting(environ.get(RUNTIME_SETTING, ""))
    name = names.get("restore") or names.get("*") or RuntimeName("auto")
    if name.runtime not in ("auto", "openvino"):
        return None
    choice = choose("restore", platform, environ)
    return choice if choice.runtime == "openvino" else None


MATCHING_ONNXRUNTIME = {
    "11": "onnxruntime-gpu 1.18 (CUDA 11.8, cuDNN 8) from onnxruntime's ort-cuda-11 package feed",
    "12": "onnxruntime-gpu 1.19 or newer built for CUDA 12 (cuDNN 9), PyPI's onnxruntime-gpu",
    "13": "an onnxruntime-gpu built for CUDA 13 (cuDNN 9)",
}


def cuda_mismatch_warning(platform: Platform) -> str | None:
    """One line when torch sees an NVIDIA GPU but onnxruntime cannot run on it (not installed, or its CUDA
    libraries do not load: e.g. onnxruntime-gpu for CUDA 12 beside a torch for CUDA 13), naming what matches."""
    if platform.device_type != "cuda" or platform.rocm:
        return None
    listed = "CUDAExecutionProvider" in platform.providers
    if listed and platform.cuda_provider_loads is not False:
        return None
    torch_cuda = platform.versions.get("torch_cuda") or "?"
    major = str(torch_cuda).split(".")[0]
    matching = MATCHING_ONNXRUNTIME.get(major, f"an onnxruntime-gpu built for CUDA {major}")
    problem = ("lists CUDAExecutionProvider but could not load it (its CUDA/cuDNN libraries do not match)" if listed
               else "has no CUDAExecutionProvider (the CPU build is installed)")
    return (f"torch {platform.versions.get('torch', '?')} sees CUDA {torch_cuda} but onnxruntime "
            f"{platform.versions.get('onnxruntime', '?')} {problem}, so the ONNX models run on the CPU; install "
            f"{matching} (pip uninstall -y onnxruntime onnxruntime-gpu, then install it; README 'NVIDIA GPU')")


_warned: set[str] = set()


def warn_once(message: str | None) -> str | None:
    """Log a message the first time this process sees it; returns it (for `info` and the node's toast)."""
    if message and message not in _warned:
        _warned.add(message)
        log.warning(message)
    return message
