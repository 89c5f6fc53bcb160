"""Identity similarity: ArcFace cosine between normed embeddings, per face and per frame."""

from __future__ import annotations

import math

import numpy as np

from ..errors import BadInput


def normed(embedding: np.ndarray, what: str = "embedding") -> np.ndarray:
    """embedding as float32 with unit length; a zero or non-finite vector is an error naming `what`."""
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm == 0.0:
        raise BadInput(f"{what} has no direction (length {norm}); it cannot be compared: use another face or "
                       "face model")
    return vector / norm


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """ArcFace cosine of two embeddings: 1 = same direction, 0 = unrelated, -1 = opposite."""
    return float(np.clip(np.dot(normed(a), normed(b)), -1.0, 1.0))


def frame_similarity(face_similarities: list[float]) -> float:
    """One number per frame: the lowest similarity among its swapped faces (the likeness most at risk);
    NaN when nothing was swapped in the frame."""
    return min(face_similarities) if face_similarities else float("nan")


def describe_similarities(per_frame_faces: list[list[float]]) -> str:
    """'face similarity: 0.812' or, for a batch, 'face similarity per frame: 0: 0.812, 1: - (no face swapped)'."""
    def one(values: list[float]) -> str:
        return " / ".join(f"{v:.3f}" for v in values) if values else "- (no face swapped)"

    if len(per_frame_faces) == 1:
        return f"face similarity: {one(per_frame_faces[0])}"
    return "face similarity per frame: " + ", ".join(f"{i}: {one(v)}" for i, v in enumerate(per_frame_faces))
