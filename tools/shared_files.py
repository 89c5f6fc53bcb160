"""Paths of the real photos and models in ../shared, and the photo manifest (tests and bench/ use them)."""

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
