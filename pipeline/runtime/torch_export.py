"""A face restorer's torch network exported once for OpenVINO, kept in the user's cache beside the drift
verdicts and named by the checkpoint's name, size and modification time: spandrel's GFPGAN to ONNX, spandrel's
CodeFormer to OpenVINO's own format (.xml + .bin) by openvino.convert_model (its ONNX export failed).
Input "input" [1,3,512,512] in -1..1 (CodeFormer also "weight" [1], its fidelity) -> "output" in -1..1."""

from __future__ import annotations

import contextlib
import threading
import warnings
from pathlib import Path
from typing import Iterator

_SUFFIX = {"GFPGAN": ".onnx", "CodeFormer": ".xml"}  # ONNX, or OpenVINO's own format
EXPORTABLE = tuple(_SUFFIX)
_lock = threading.Lock()


def export_folder() -> Path:
    from ..models.locate import user_cache_root

    return user_cache_root().parent / "exports"


def exported_path(checkpoint: Path, architecture: str) -> Path:
    stat = Path(checkpoint).stat()
    name = f"{Path(checkpoint).stem}-{stat.st_size}-{int(stat.st_mtime)}-{architecture}{_SUFFIX[architecture]}"
    return export_folder() / name


class _Signed:
    """The network on -1..1 input, returning its image only (spandrel's call would clamp to 0..1)."""

    @staticmethod
    def module(network, architecture: str):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.network = network

            def forward(self, x):
                return self.network(x)[0]

        class WithFidelity(torch.nn.Module):
            """CodeFormer with its fidelity as a tensor input: traced with a weight above 0, so the fusion
            runs for every weight (at 0 its residual is 0 x the fused features: the unfused result)."""

            def __init__(self) -> None:
                super().__init__()
                self.network = network

            def forward(self, input, weight):  # noqa: A002 - the graph's input names
                return self.network(input, weight=weight)[0]

        return (WithFidelity() if architecture == "CodeFormer" else Wrapped()).eval()


@contextlib.contextmanager
def _traceable_fusion_keys(network) -> Iterator[None]:
    """spandrel's CodeFormer looks its fusion layers up by str(x.shape[-1]), which a tracer makes "tensor(32)"
    instead of "32": while tracing, the same layers are also listed under those names."""
    fuse = network.fuse_convs_dict
    aliases = [f"tensor({key})" for key in list(fuse.keys())]
    for alias in aliases:
        fuse.add_module(alias, fuse[alias[len("tensor("):-1]])
    try:
        yield
    finally:
        for alias in aliases:
            del fuse[alias]


def _export_onnx(module, target: Path) -> None:
    import torch

    x = torch.zeros(1, 3, 512, 512)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes (all fixed at 512 here)
        torch.onnx.export(module, (x,), str(target), input_names=["input"], output_names=["output"],
                          opset_version=17, dynamo=False)


def _export_openvino(network, module, target: Path) -> None:
    """OpenVINO's model of the traced module, its weights kept in fp32 (OpenVINO would store them in fp16)."""
    import torch

    from .openvino_session import import_openvino

    openvino = import_openvino()
    example = (torch.zeros(1, 3, 512, 512), torch.tensor([0.5]))
    shapes = [("input", [1, 3, 512, 512], openvino.Type.f32), ("weight", [1], openvino.Type.f32)]
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), _traceable_fusion_keys(network):
        warnings.simplefilter("ignore")  # the tracer's notes on the shapes and the fidelity branch it fixes
        model = openvino.convert_model(module, example_input=example, input=shapes)
    model.outputs[0].get_tensor().set_names({"output"})
    openvino.save_model(model, str(target), compress_to_fp16=False)


def export_restorer(network, architecture: str, checkpoint: Path) -> Path:
    """The exported file of this checkpoint's network (exported now when not cached)."""
    if architecture not in EXPORTABLE:
        raise ValueError(f"{architecture} is not exported for OpenVINO (only {', '.join(EXPORTABLE)})")
    target = exported_path(checkpoint, architecture)
    with _lock:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        module = _Signed.module(network, architecture)
        partial = target.with_name(f"{target.stem}.partial{target.suffix}")
        if partial.suffix == ".xml":
            _export_openvino(network, module, partial)
            partial.with_suffix(".bin").replace(target.with_suffix(".bin"))
        else:
            _export_onnx(module, partial)
        partial.replace(target)
        return target
