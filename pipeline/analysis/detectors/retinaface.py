"""RetinaFace detection: prior boxes, decoding and thresholds as in facexlib."""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from math import ceil

import numpy as np

from .common import Network, TorchDetector

_MIN_SIZES = ((16, 32), (64, 128), (256, 512))
_STEPS = (8, 16, 32)
_VARIANCE = (0.1, 0.2)
_BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)


@lru_cache(maxsize=8)
def prior_boxes(height: int, width: int) -> np.ndarray:
    """(N, 4) priors as (cx, cy, w, h), relative to the input size, in the network's output order."""
    priors = []
    for sizes, step in zip(_MIN_SIZES, _STEPS):
        for i, j in product(range(ceil(height / step)), range(ceil(width / step))):
            for size in sizes:
                priors.append(((j + 0.5) * step / width, (i + 0.5) * step / height, size / width, size / height))
    table = np.asarray(priors, dtype=np.float32)
    table.setflags(write=False)  # cached: shared by every later call
    return table


def decode(loc: np.ndarray, landmarks: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn regression outputs into xyxy boxes and 5 landmarks, relative to the input size."""
    centres = priors[:, :2] + loc[:, :2] * _VARIANCE[0] * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE[1])
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    marks = priors[:, None, :2] + landmarks.reshape(-1, 5, 2) * _VARIANCE[0] * priors[:, None, 2:]
    return boxes, marks.reshape(-1, 10)


class RetinaFaceDetector(TorchDetector):
    """RetinaFace, variant (backbone) resnet50 or mobilenet0.25 (see TorchDetector)."""

    network = Network("retinaface_net", "RetinaFaceNet", "retinaface_{}", "RetinaFace {}")
    score_threshold, nms_threshold = 0.8, 0.4
    variants = ("resnet50", "mobile0.25")

    @classmethod
    def variant_of(cls, keys: set[str]) -> str | None:
        if "ClassHead.0.conv1x1.weight" not in keys:
            return None
        if "body.stage1.0.0.weight" in keys:
            return "mobile0.25"
        return "resnet50" if "body.layer1.0.conv1.weight" in keys else None

    def net_input(self, small: np.ndarray) -> np.ndarray:
        return (small[:, :, ::-1].astype(np.float32) - _BGR_MEAN).transpose(2, 0, 1)

    def read_faces(self, outputs, i: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = size
        loc, conf, marks = (t[i].float().cpu().numpy() for t in outputs)
        scores = conf[:, 1]
        keep = scores > self.score_threshold
        boxes, landmarks = decode(loc[keep], marks[keep], prior_boxes(h, w)[keep])
        scale = np.array([w, h] * 2, dtype=np.float32)
        return boxes * scale, scores[keep], landmarks * np.tile([w, h], 5).astype(np.float32)
