"""ContentCheck: one step that runs a classifier on the images of a job (target and source before the
swap, the result after it) and raises ContentBlocked for the first one it flags."""

from __future__ import annotations

import logging

import numpy as np

from .verdict import Classifier, ContentBlocked, Verdict

log = logging.getLogger("faceswap_v3.content_check")
MAX_SIDE = 2048  # the classifiers look at 320-640 px: a 100 MP image is shrunk first, not padded whole


def bounded(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """rgb, shrunk (area-averaged) so its longer side is at most max_side."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    import cv2

    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


class ContentCheck:
    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    @property
    def name(self) -> str:
        return self.classifier.name

    def verdict(self, rgb: np.ndarray) -> Verdict:
        return self.classifier.verdict(bounded(rgb))

    def require_allowed(self, rgb: np.ndarray, what: str) -> None:
        """Raise ContentBlocked naming `what` when the classifier flags the image."""
        found = self.verdict(rgb)
        if found.flagged:
            log.warning("content check: %s blocked by %s (%s)", what, self.classifier.name, found.detail)
            raise ContentBlocked(what, self.classifier.name, found.detail)
