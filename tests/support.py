"""Paths of the real photos and models in ../shared, and the photo manifest."""

from __future__ import annotations

import csv
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESWAP_V3_SHARED", REPO.parent / "shared")).resolve()
FACES = SHARED / "fixtures" / "faces"
MODELS = SHARED / "models"


def manifest() -> list[dict]:
    with open(SHARED / "fixtures" / "MANIFEST.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def face_range(row: dict) -> tuple[int, int]:
    low, _, high = row["faces_min-max"].partition("-")
    return int(low), int(high or low)


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays, in dB (inf when identical)."""
    import numpy as np

    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def named(node, result) -> dict:
    """A ComfyUI node's outputs by name (their positions change as outputs are added)."""
    return dict(zip(node.RETURN_NAMES, result))
