"""ContentCheck: one step that runs a classifier on the images of a job (target and source before the
swap, the result after it) and raises ContentBlocked for the first one it flags. The classifier sees the
whole image and, on an image larger than its view size, windows of it at its own scale (views.py)."""

from __future__ import annotations

import logging

import numpy as np

from .verdict import Classifier, ContentBlocked, Verdict
from .views import windows

log = logging.getLogger("faceswap_v3.content_check")


def bounded(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """rgb, shrunk (area-averaged) so its longer side is at most max_side."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    import cv2

    return cv2.resize(np.ascontiguousarray(rgb), (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


class ContentCheck:
    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    @property
    def name(self) -> str:
        return self.classifier.name

    def views(self, rgb: np.ndarray) -> int:
        """How many views verdict() classifies for an image of rgb's size when nothing is flagged."""
        return len(windows(*rgb.shape[:2], self.classifier.view_size))

    def verdict(self, rgb: np.ndarray) -> Verdict:
        """Flagged when the whole image or any window of it is (the first flagged view, named, stops the
        search); otherwise the whole image's verdict."""
        height, width = rgb.shape[:2]
        view_size = self.classifier.view_size
        whole = None
        for window in windows(height, width, view_size):
            found = self.classifier.verdict(bounded(rgb[window.slices], view_size), window.cut_edges(height, width))
            if whole is None:
                whole = found
                if found.flagged:
                    return found
            elif found.flagged:
                return Verdict(True, f"{found.detail}, in {window.where()}")
        return whole

    def require_allowed(self, rgb: np.ndarray, what: str) -> None:
        """Raise ContentBlocked naming `what` when the classifier flags the image."""
        found = self.verdict(rgb)
        if found.flagged:
            log.warning("content check: %s blocked by %s (%s)", what, self.classifier.name, found.detail)
            raise ContentBlocked(what, self.classifier.name, found.detail)
