"""A face restorer's torch network (spandrel's GFPGAN) exported once to ONNX for OpenVINO, kept in the user's
cache beside the drift verdicts and named by the checkpoint's name, size and modification time.
Input "input" [1,3,512,512] in -1..1 -> "output" in -1..1. CodeFormer does not trace (spandrel's forward
indexes its fusion layers by str(tensor size)) and stays on torch."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

EXPORTABLE = ("GFPGAN",)
_lock = threading.Lock()


def export_folder() -> Path:
    from ..models.locate import user_cache_root

    return user_cache_root().parent / "exports"


def exported_path(checkpoint: Path, architecture: str) -> Path:
    stat = Path(checkpoint).stat()
    return export_folder() / f"{Path(checkpoint).stem}-{stat.st_size}-{int(stat.st_mtime)}-{architecture}.onnx"


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

        return Wrapped().eval()


def export_restorer(network, architecture: str, checkpoint: Path) -> Path:
    """The ONNX file of this checkpoint's network (exported now when not cached)."""
    import torch

    if architecture not in EXPORTABLE:
        raise ValueError(f"{architecture} is not exported for OpenVINO (only {', '.join(EXPORTABLE)})")
    target = exported_path(checkpoint, architecture)
    with _lock:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        module = _Signed.module(network, architecture)
        x = torch.zeros(1, 3, 512, 512)
        partial = target.with_suffix(".partial")
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes (all fixed at 512 here)
            torch.onnx.export(module, (x,), str(partial), input_names=["input"], output_names=["output"],
                              opset_version=17, dynamo=False)
        partial.replace(target)
        return target
