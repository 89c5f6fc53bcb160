"""Swapper models through onnxruntime, their interface recognised from the ONNX graph:

- inswapper_128 (and its fp16 variant, whatever its tensors' dtypes) and ReSwapper 128/256: target [N,3,S,S] RGB in 0..1, source [N,512] latent =
  the normed ArcFace embedding times the graph's [512,512] emap (its last initializer), renormalised
  (insightface's INSwapper); output RGB 0..1.
- HyperSwap 1a/1b/1c 256: target [N,3,256,256] RGB in -1..1, source [N,512] = the normed embedding itself
  (no emap); output RGB in -1..1 (FaceFusion's face_swapper).
All align the face with insightface's arcface template for 128 px, scaled to the crop (FaceFusion's arcface_128).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable
from ..runtime.io_binding import CUDA_PROVIDERS, run_tiles_bound
from ..runtime.onnx_session import active_provider, fixed_dims, open_session, runtime_name

CROP_SIZE = 128  # inswapper_128's crop
EMAP_SIZES = (128, 256)
HYPERSWAP_SIZE = 256
EXPECTED = ("inswapper_128 / ReSwapper (inputs target [1,3,S,S] RGB 0..1 with S = 128 or 256 and source [1,512], "
            "output [1,3,S,S], and a [512,512] emap as the last initializer) or HyperSwap (inputs target "
            "[1,3,256,256] RGB -1..1 and source [1,512], output [1,3,256,256], no emap)")


@dataclass(frozen=True)
class SwapperInterface:
    """kind: inswapper, reswapper or hyperswap. signed: crops in -1..1 instead of 0..1.
    batch_dynamic: the target input takes any batch size, so pixel-boost tiles go in one call."""

    kind: str
    crop_size: int
    signed: bool
    uses_emap: bool
    batch_dynamic: bool


def recognise_interface(name: str, inputs: list[tuple[str, tuple]], outputs: list[tuple[str, tuple]],
                        has_emap: bool) -> SwapperInterface:
    """inputs/outputs: (name, shape) with unknown dims as None. Raises ModelUnavailable naming what was expected."""
    targets = [shape for _, shape in inputs if len(shape) == 4]
    sources = [shape for _, shape in inputs if len(shape) == 2]
    size = targets[0][2] if targets else None
    fits = (len(inputs) == 2 and len(targets) == 1 and len(sources) == 1 and sources[0][1] == 512
            and targets[0][1] == 3 and size is not None and targets[0][3] == size
            and outputs and len(outputs[0][1]) == 4 and outputs[0][1][1:] == (3, size, size))
    dynamic = fits and targets[0][0] is None and sources[0][0] is None
    if fits and has_emap and size in EMAP_SIZES:
        kind = "reswapper" if "reswapper" in name.lower() or size != CROP_SIZE else "inswapper"
        return SwapperInterface(kind, size, signed=False, uses_emap=True, batch_dynamic=dynamic)
    if fits and not has_emap and size == HYPERSWAP_SIZE:
        return SwapperInterface("hyperswap", size, signed=True, uses_emap=False, batch_dynamic=dynamic)
    got = (f"got inputs {[list(s) for _, s in inputs]}, outputs {[list(s) for _, s in outputs]}, "
           f"{'an' if has_emap else 'no'} emap").replace("None", "?")
    raise ModelUnavailable(f"{name} does not have a swapper interface this pack knows: expected {EXPECTED}; {got}")


def crops_to_input(crops: np.ndarray, signed: bool) -> np.ndarray:
    """(N, S, S, 3) RGB uint8 -> (N, 3, S, S) float32 in 0..1, or -1..1 when signed."""
    blob = crops.astype(np.float32) / 255.0
    if signed:
        blob = (blob - 0.5) / 0.5
    return np.ascontiguousarray(blob.transpose(0, 3, 1, 2))


def output_to_crops(pred: np.ndarray, signed: bool) -> np.ndarray:
    """(N, 3, S, S) model output -> (N, S, S, 3) RGB uint8."""
    pred = pred.astype(np.float32).transpose(0, 2, 3, 1)
    if signed:
        pred = pred * 0.5 + 0.5
    return (np.clip(pred, 0.0, 1.0) * 255.0).astype(np.uint8)


class OnnxSwapper:
    """Any .onnx whose graph has one of the interfaces above."""

    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        import onnx
        from onnx import numpy_helper

        path = Path(path)
        try:
            graph = onnx.load(str(path)).graph
        except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
            raise ModelUnavailable(f"{path.name} is not a readable ONNX model ({exc})") from None
        last = graph.initializer[-1] if graph.initializer else None
        has_emap = last is not None and tuple(last.dims) == (512, 512)
        session = open_session(path, "swap", providers)
        inputs = [(i.name, fixed_dims(i.shape)) for i in session.get_inputs()]
        outputs = [(o.name, fixed_dims(o.shape)) for o in session.get_outputs()]
        self.interface = recognise_interface(path.name, inputs, outputs, has_emap)
        self.emap = numpy_helper.to_array(last).astype(np.float32) if self.interface.uses_emap else None
        self.session = session
        self.target_name = next(n for n, s in inputs if len(s) == 4)
        self.source_name = next(n for n, s in inputs if len(s) == 2)
        types = {i.name: i.type for i in session.get_inputs()}
        self._dtype = {n: np.float16 if t == "tensor(float16)" else np.float32 for n, t in types.items()}
        self.output_name = outputs[0][0]
        self.input_names = [self.target_name, self.source_name]
        self.name = path.name
        self.crop_size = self.interface.crop_size
        self.runs_on = runtime_name(session)
        # on CUDA (or TensorRT), a fixed-batch model's tiles stay on the GPU between calls (io_binding.py)
        self.io_device = "cuda" if active_provider(session) in CUDA_PROVIDERS else None

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray:
        """The source input for a normed ArcFace embedding: emap-transformed and renormalised, or as is."""
        latent = normed_embedding.reshape(1, -1).astype(np.float32)
        if self.emap is not None:
            latent = latent @ self.emap
        return latent / np.linalg.norm(latent)

    def swap_tiles(self, tiles: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) RGB uint8 aligned crops -> swapped crops; one call when the batch dim is dynamic."""
        blob = crops_to_input(tiles, self.interface.signed).astype(self._dtype[self.target_name])
        source = latent.astype(self._dtype[self.source_name])
        if self.interface.batch_dynamic:
            feed = {self.target_name: blob, self.source_name: np.repeat(source, len(blob), axis=0)}
            pred = self.session.run([self.output_name], feed)[0]
        elif self.io_device is not None:
            pred = run_tiles_bound(self.session, self.target_name, self.source_name, blob, source, self.io_device)
        else:
            pred = np.concatenate([self.session.run([self.output_name], {self.target_name: blob[i:i + 1],
                                                                         self.source_name: source})[0]
                                   for i in range(len(blob))])
        return output_to_crops(pred, self.interface.signed)
