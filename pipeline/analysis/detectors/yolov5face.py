"""YOLOv5-face detection: padding to the stride, confidence and NMS as in CodeFormer's facelib."""

from __future__ import annotations

import numpy as np

from .common import Network, TorchDetector

_STRIDE = 32


class YOLOv5FaceDetector(TorchDetector):
    """YOLOv5-face, variant n or l (see TorchDetector)."""

    network = Network("yolov5face_net", "YOLOv5FaceNet", "YOLOv5{}", "YOLOv5{}-face")
    score_threshold, nms_threshold = 0.7, 0.5
    variants = ("l", "n")

    @classmethod
    def variant_of(cls, keys: set[str]) -> str | None:
        if "model.0.stem_1.conv.weight" not in keys:
            return None
        if "model.1.branch1.0.weight" in keys:  # ShuffleNetV2 stages
            return "n"
        return "l" if "model.1.cv1.conv.weight" in keys else None  # C3 stages

    def net_input(self, small: np.ndarray) -> np.ndarray:
        h, w = small.shape[:2]
        ph, pw = -(-h // _STRIDE) * _STRIDE, -(-w // _STRIDE) * _STRIDE
        padded = np.full((ph, pw, 3), 114, dtype=np.uint8)
        padded[:h, :w] = small
        return padded.transpose(2, 0, 1).astype(np.float32) / 255.0

    def read_faces(self, outputs, i: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = outputs[i].float().cpu().numpy()
        scores = rows[:, 4] * rows[:, 15]
        keep = (rows[:, 4] > self.score_threshold) & (scores > self.score_threshold)
        rows, scores = rows[keep], scores[keep]
        centres, sizes = rows[:, 0:2], rows[:, 2:4]
        return np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1), scores, rows[:, 5:15]
