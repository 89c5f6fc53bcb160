"""The names of runtimes and precisions a user may ask for, and the name of where a model ran.

A runtime request is `auto` or `RUNTIME[:DEVICE][:PRECISION]`, e.g. `openvino:CPU:bf16`, `tensorrt:cuda:0`,
`onnxruntime:cpu`, `coreml:fp16`; several, one per model role, as `swap=openvino:CPU:bf16,detect=onnxruntime`
(a bare entry covers every role not named)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadInput

PRECISIONS = ("fp32", "fp16", "bf16")
# runtime -> (the devices it names, its default device, the precisions it can run in)
RUNTIMES = {
    "onnxruntime": (("cpu", "cuda"), None, ("fp32",)),
    "tensorrt": (("cuda",), "cuda", ("fp32", "fp16")),
    "openvino": (("CPU", "GPU"), "CPU", ("fp32", "fp16", "bf16")),
    "coreml": ((), None, ("fp32", "fp16")),
    "directml": ((), None, ("fp32",)),
    "migraphx": ((), None, ("fp32", "fp16")),
    "rocm": ((), None, ("fp32",)),
}
# the ONNX model roles (threads.ROLES) plus the restorer
ROLES = ("detect", "genderage", "recognize", "swap", "mask", "restore")
VALID_NAMES = ("auto, onnxruntime[:cpu|:cuda[:N]], tensorrt[:cuda[:N]], openvino[:CPU|:GPU], coreml, directml[:N], "
               "migraphx[:N], rocm[:N]; any of them may end in :fp32, :fp16 or :bf16")


@dataclass(frozen=True)
class RuntimeName:
    """A parsed request: runtime ("auto" or a RUNTIMES key), device (None: the runtime's default; for the
    GPU runtimes a device index as text), precision (None: the choice's own)."""

    runtime: str
    device: str | None = None
    precision: str | None = None


def _refuse(what: str, text: str) -> BadInput:
    return BadInput(f"unknown {what} {text!r}; valid: {VALID_NAMES if what == 'runtime' else ', '.join(PRECISIONS)}")


def check_precision(text: str) -> str | None:
    """'auto' or '' -> None; fp32/fp16/bf16 as given; else BadInput listing the valid names."""
    text = text.strip().lower()
    if text in ("", "auto"):
        return None
    if text not in PRECISIONS:
        raise _refuse("precision", text)
    return text


def parse_runtime(text: str) -> RuntimeName:
    """One runtime name (see the module's doc), or BadInput in one line listing the valid ones."""
    parts = [p for p in text.strip().split(":")]
    precision = None
    if len(parts) > 1 and parts[-1].lower() in PRECISIONS:
        precision = parts.pop().lower()
    head = parts[0].lower()
    if head in ("", "auto") and len(parts) == 1:
        return RuntimeName("auto", None, precision)
    if head not in RUNTIMES:
        raise _refuse("runtime", text)
    devices, default, _ = RUNTIMES[head]
    rest = parts[1:]
    device = default
    if head == "openvino" and rest:
        device = rest.pop(0).upper()
        if device not in devices:
            raise _refuse("runtime", text)
    elif devices and rest:  # onnxruntime:cpu, onnxruntime:cuda[:N], tensorrt:cuda[:N]
        device = rest.pop(0).lower()
        if device not in devices:
            raise _refuse("runtime", text)
    if rest and device not in ("cpu", "CPU", "GPU") and rest[0].isdigit():
        device = f"{device}:{rest.pop(0)}" if device else rest.pop(0)
    if rest:
        raise _refuse("runtime", text)
    return RuntimeName(head, device, precision)


def parse_runtime_setting(text: str) -> dict[str, RuntimeName]:
    """FACESWAP_V3_RUNTIME's value: {role or "*": name}; "*" covers the roles not named."""
    chosen: dict[str, RuntimeName] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        role, _, name = entry.rpartition("=")
        role = role.strip().lower() or "*"
        if role != "*" and role not in ROLES:
            raise BadInput(f"unknown model role {role!r} in {entry!r}; valid: {', '.join(ROLES)}")
        chosen[role] = parse_runtime(name)
    return chosen


def on_cpu(where: str) -> bool:
    """Whether a runs_on entry ("name: where" or just "where") says the model ran on the CPU."""
    where = where.split(" (")[0].rsplit(": ", 1)[-1]
    return where.endswith(("CPUExecutionProvider", "torch:cpu")) or where.startswith(
        ("onnxruntime:cpu:", "openvino:CPU:", "torch:cpu:"))
