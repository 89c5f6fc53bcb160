"""YOLOv5-face detection: padding to the stride, confidence and NMS as in CodeFormer's facelib."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..face import Face
from .common import bounded_copy, faces_from_arrays, load_state_dict, nms, torch_device

_STRIDE = 32


class YOLOv5FaceDetector:
    def __init__(self, path: Path, variant: str, device: str | None = None, score_threshold: float = 0.7,
                 nms_threshold: float = 0.5, max_side: int = 640) -> None:
        import torch

        from .yolov5face_net import YOLOv5FaceNet

        self.name = f"YOLOv5{variant}"
        self.device = torch_device(device)
        self.runs_on = f"torch:{self.device}"
        net = YOLOv5FaceNet(variant)
        load_state_dict(Path(path), net, f"YOLOv5{variant}-face")
        self.net = net.eval().to(self.device)
        self.torch_module = self.net  # what a host's memory manager may account for
        self.score_threshold, self.nms_threshold, self.max_side = score_threshold, nms_threshold, max_side
        self._torch = torch

    def detect(self, rgb: np.ndarray) -> list[Face]:
        small, scale = bounded_copy(rgb, self.max_side)
        h, w = small.shape[:2]
        ph, pw = -(-h // _STRIDE) * _STRIDE, -(-w // _STRIDE) * _STRIDE
        padded = np.full((ph, pw, 3), 114, dtype=np.uint8)
        padded[:h, :w] = small
        x = self._torch.from_numpy(padded.transpose(2, 0, 1).copy())[None].to(self.device).float() / 255.0
        with self._torch.inference_mode():
            rows = self.net(x)[0].float().cpu().numpy()
        scores = rows[:, 4] * rows[:, 15]
        keep = (rows[:, 4] > self.score_threshold) & (scores > self.score_threshold)
        rows, scores = rows[keep], scores[keep]
        centres, sizes = rows[:, 0:2], rows[:, 2:4]
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
        order = nms(boxes, scores, self.nms_threshold)
        return faces_from_arrays(boxes[order], scores[order], rows[order, 5:15], scale, rgb.shape)
