"""insightface SCRFD detectors (det_10g.onnx of buffalo_l, or any SCRFD .onnx with 5 keypoints)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ModelUnavailable
from ...face import Face
from ...runtime.onnx_session import insightface_model, runtime_name


class SCRFDDetector:
    def __init__(self, path: Path, providers: list[str] | None = None, score_threshold: float = 0.5,
                 input_size: int = 640) -> None:
        model = insightface_model(path, "SCRFD", "an SCRFD face detector", providers, role="detect")
        if not model.use_kps:
            raise ModelUnavailable(f"{path} is an SCRFD detector without the 5 face keypoints swapping needs")
        model.prepare(ctx_id=0, det_thresh=score_threshold, input_size=(input_size, input_size))
        self.model = model
        self.name = Path(path).name
        self.runs_on = runtime_name(model.session)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        boxes, keypoints = self.model.detect(bgr, max_num=0, metric="default")
        h, w = rgb.shape[:2]
        faces = []
        for row, marks in zip(boxes, keypoints):
            x1, y1, x2, y2, score = (float(v) for v in row)
            box = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
            faces.append(Face(box=box, score=score, landmarks=marks.astype(np.float32)))
        return faces
