"""Identity embeddings with insightface's ArcFace recognizer (buffalo_l's w600k_r50.onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..geometry.align import arcface_matrix, warp_crop
from ..face import Face
from ..runtime.onnx_session import insightface_model, runtime_name


class Recognizer:
    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        model = insightface_model(path, "ArcFaceONNX",
                                  "an ArcFace recognizer (expected input [1,3,112,112] and output [1,512])", providers,
                                  role="recognize")
        model.prepare(ctx_id=0)
        self.model = model
        self.runs_on = runtime_name(model.session)

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The face's L2-normalised identity embedding, float32 [512]."""
        aligned = warp_crop(rgb, arcface_matrix(face.landmarks, 112), 112)
        embedding = self.model.get_feat(np.ascontiguousarray(aligned[:, :, ::-1]))[0].astype(np.float32)
        return embedding / np.linalg.norm(embedding)
