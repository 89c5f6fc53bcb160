"""nudenet's detector (the optional `nudenet` package; its weights ship in its wheel, AGPL-3.0): an image
is blocked when it finds a box of a blocked class at or above that class's minimum score (thresholds.py)."""

from __future__ import annotations

import numpy as np

from .thresholds import NUDENET_MIN_SCORES
from .verdict import Verdict


def nudenet_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("nudenet") is not None
    except (ImportError, ValueError):  # a broken install, or one an embedding application blocks
        return False


class NudenetDetector:
    name = "nudenet"

    def __init__(self) -> None:
        from nudenet import NudeDetector

        self.detector = NudeDetector()

    def verdict(self, rgb: np.ndarray) -> Verdict:
        boxes = self.detector.detect(np.ascontiguousarray(rgb[:, :, ::-1]))  # it reads BGR like cv2
        hits = [b for b in boxes if b["score"] >= NUDENET_MIN_SCORES.get(b["class"], 2.0)]
        if not hits:
            return Verdict(False, "no blocked class found")
        return Verdict(True, ", ".join(f"{b['class']} {b['score']:.2f}" for b in hits))
