"""nudenet's detector (the optional `nudenet` package; its weights ship in its wheel, AGPL-3.0): an image
is blocked when it finds a box of a blocked class at or above that class's minimum score (thresholds.py);
the other classes never block."""

from __future__ import annotations

import numpy as np

from .thresholds import NUDENET_EDGE_MARGIN, NUDENET_MIN_SCORES, NUDENET_VIEW_ZOOM
from .verdict import Verdict
from .views import WHOLE, CutEdges


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
        self.view_size = NUDENET_VIEW_ZOOM * self.detector.input_width

    def verdict(self, rgb: np.ndarray, cut: CutEdges = WHOLE) -> Verdict:
        """A box that touches a cut edge is not counted: what a window cuts in two lies whole in another
        window (views.py), and a part cut off by the window's edge is what it most often mistakes."""
        boxes = self.detector.detect(np.ascontiguousarray(rgb[:, :, ::-1]))  # it reads BGR like cv2
        hits = [b for b in boxes if b["class"] in NUDENET_MIN_SCORES and b["score"] >= NUDENET_MIN_SCORES[b["class"]]
                and not _touches(b["box"], rgb.shape, cut)]
        if not hits:
            return Verdict(False, "no blocked class found")
        return Verdict(True, ", ".join(f"{b['class']} {b['score']:.2f}" for b in hits))


def _touches(box: list[int], shape: tuple[int, ...], cut: CutEdges) -> bool:
    """Whether an [x, y, width, height] box reaches one of the view's cut edges."""
    x, y, width, height = box
    margin = NUDENET_EDGE_MARGIN * max(shape[:2])
    return ((cut.left and x <= margin) or (cut.top and y <= margin)
            or (cut.right and x + width >= shape[1] - margin) or (cut.bottom and y + height >= shape[0] - margin))
