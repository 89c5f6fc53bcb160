"""inswapper_128-style swappers through onnxruntime: the emap latent transform and 0..1 RGB crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ModelUnavailable
from .onnx_session import active_provider, default_providers

CROP_SIZE = 128


class InSwapper:
    """Any .onnx with inswapper's interface: inputs target [1,3,128,128] and source [1,512], one
    [1,3,128,128] output, and the [512,512] emap as the graph's last initializer."""

    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        path = Path(path)
        try:
            graph = onnx.load(str(path)).graph
        except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
            raise ModelUnavailable(f"{path.name} is not a readable ONNX model ({exc})") from None
        expected = ("inputs target [1,3,128,128] and source [1,512], output [1,3,128,128], "
                    "and a [512,512] emap as the last initializer")
        emap = numpy_helper.to_array(graph.initializer[-1]) if graph.initializer else None
        if emap is None or emap.shape != (512, 512):
            raise ModelUnavailable(f"{path.name} does not have the inswapper interface: expected {expected}")
        session = ort.InferenceSession(str(path), providers=providers or default_providers())
        inputs, outputs = session.get_inputs(), session.get_outputs()
        shapes = [tuple(i.shape) for i in inputs]
        if len(inputs) != 2 or len(outputs) != 1 or shapes[0][1:] != (3, 128, 128) or shapes[1][-1] != 512 \
                or tuple(outputs[0].shape)[1:] != (3, 128, 128):
            raise ModelUnavailable(
                f"{path.name} does not have the inswapper interface: expected {expected}, "
                f"got inputs {shapes} and outputs {[tuple(o.shape) for o in outputs]}")
        self.session, self.emap = session, emap.astype(np.float32)
        self.input_names = [i.name for i in inputs]
        self.output_name = outputs[0].name
        self.name = path.name
        self.runs_on = f"onnxruntime:{active_provider(session)}"

    def latent(self, normed_embedding: np.ndarray) -> np.ndarray:
        latent = normed_embedding.reshape(1, -1).astype(np.float32) @ self.emap
        return latent / np.linalg.norm(latent)

    def swap_crop(self, aligned: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """aligned: RGB uint8 128x128 crop; returns the swapped RGB uint8 crop."""
        blob = (aligned.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        pred = self.session.run([self.output_name], {self.input_names[0]: blob, self.input_names[1]: latent})[0]
        return np.clip(255.0 * pred[0].transpose(1, 2, 0), 0, 255).astype(np.uint8)
