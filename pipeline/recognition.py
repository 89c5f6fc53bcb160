"""Identity embeddings with insightface's ArcFace recognizer (buffalo_l's w600k_r50.onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .align import arcface_matrix, warp_crop
from .errors import ModelUnavailable
from .face import Face
from .onnx_session import active_provider, default_providers


class Recognizer:
    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        from insightface.model_zoo import ArcFaceONNX, get_model

        model = get_model(str(path), providers=providers or default_providers())
        if not isinstance(model, ArcFaceONNX):
            raise ModelUnavailable(
                f"{path} is not an ArcFace recognizer (expected input [1,3,112,112] and output [1,512])")
        model.prepare(ctx_id=0)
        self.model = model
        self.runs_on = f"onnxruntime:{active_provider(model.session)}"
        self.embeddings_computed = 0

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The face's L2-normalised identity embedding, float32 [512]."""
        aligned = warp_crop(rgb, arcface_matrix(face.landmarks, 112), 112)
        embedding = self.model.get_feat(np.ascontiguousarray(aligned[:, :, ::-1]))[0].astype(np.float32)
        self.embeddings_computed += 1
        return embedding / np.linalg.norm(embedding)
