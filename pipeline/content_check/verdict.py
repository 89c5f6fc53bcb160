"""What a content classifier answers, and the error a blocked image raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import FaceswapError
from .views import WHOLE, CutEdges

CONTENT_BLOCKED = "content_blocked"


@dataclass(frozen=True)
class Verdict:
    """flagged: the image must not be used. detail: the scores behind it, for the log and the user."""

    flagged: bool
    detail: str


class Classifier(Protocol):
    name: str
    # The longest side of a view it judges well: a larger image is also judged in windows of this size
    # (views.py), each shrunk to this size first.
    view_size: int

    def verdict(self, rgb: np.ndarray, cut: CutEdges = WHOLE) -> Verdict:
        """Judge one RGB uint8 [H, W, 3] image, or a window of one whose `cut` edges cut through it."""


class ContentBlocked(FaceswapError):
    """An image (a request's source or target, or a result) failed the content check. reason is the
    machine-readable code the server returns (422) beside the message."""

    reason = CONTENT_BLOCKED

    def __init__(self, what: str, classifier: str, detail: str) -> None:
        super().__init__(f"{what} was blocked by the content check ({classifier}: {detail}); this server does "
                         "not process sexual content")
        self.what, self.classifier, self.detail = what, classifier, detail
