"""Pieces every detector shares: the bounded-size copy, NMS, loading a checkpoint safely."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Protocol

import numpy as np

from ..devices import torch_device
from ..errors import ModelUnavailable
from ..face import Face


class FaceDetector(Protocol):
    name: str
    runs_on: str

    def detect(self, rgb: np.ndarray) -> list[Face]: ...


class TorchDetector:
    """A torch detector: its checkpoint loaded, on device, into the network its subclass names (built for
    the variant). detect(rgb) runs the subclass's find_faces on a copy whose long side is at most max_side,
    keeps the boxes NMS keeps and maps the faces back to rgb."""

    network: tuple[str, str, str, str]  # the net's module and class, the name and checkpoint name formats
    score_threshold: float
    nms_threshold: float

    def __init__(self, path: Path, variant: str, device: str | None = None, score_threshold: float | None = None,
                 nms_threshold: float | None = None, max_side: int = 640) -> None:
        import torch

        module, net_class, name, checkpoint = self.network
        net = getattr(import_module(f".{module}", __package__), net_class)(variant)  # imports torch: on first use
        self.name = name.format(variant)
        self.device = torch_device(device)
        self.runs_on = f"torch:{self.device}"
        load_state_dict(Path(path), net, checkpoint.format(variant))
        self.net = net.eval().to(self.device)
        self.torch_module = self.net  # what a host's memory manager may account for
        self.score_threshold = self.score_threshold if score_threshold is None else score_threshold
        self.nms_threshold = self.nms_threshold if nms_threshold is None else nms_threshold
        self.max_side = max_side
        self._torch = torch

    def detect(self, rgb: np.ndarray) -> list[Face]:
        small, scale = bounded_copy(rgb, self.max_side)
        boxes, scores, landmarks = self.find_faces(small)
        order = nms(boxes, scores, self.nms_threshold)
        return faces_from_arrays(boxes[order], scores[order], landmarks[order], scale, rgb.shape)

    def find_faces(self, small: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes xyxy, scores, 5 landmarks as 10 values) above the score threshold, in small's pixels."""
        raise NotImplementedError

    def run_net(self, chw: np.ndarray):
        """The network's outputs for one (3, H, W) float32 image."""
        x = self._torch.from_numpy(np.ascontiguousarray(chw))[None].to(self.device)
        with self._torch.inference_mode():
            return self.net(x)


def bounded_copy(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink rgb so its long side is at most max_side; return (copy, factor from copy to original)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = max(h, w) / max_side
    if scale <= 1.0:
        return rgb, 1.0
    size = (max(1, round(w / scale)), max(1, round(h / scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return small, w / size[0]


def faces_from_arrays(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray, scale: float,
                      image_shape: tuple[int, ...]) -> list[Face]:
    """Build Face records, mapping detector coordinates back by scale and clipping boxes to the image."""
    h, w = image_shape[:2]
    faces = []
    for box, score, marks in zip(boxes * scale, scores, landmarks.reshape(-1, 5, 2) * scale):
        x1, y1, x2, y2 = (float(v) for v in box)
        clipped = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
        if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
            continue
        faces.append(Face(box=clipped, score=float(score), landmarks=marks.astype(np.float32)))
    return faces


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indexes of the boxes kept by non-maximum suppression, best first."""
    import torch
    from torchvision.ops import nms as tv_nms

    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    keep = tv_nms(torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(scores.astype(np.float32)), iou_threshold)
    return keep.numpy()


def load_state_dict(path: Path, net, what: str) -> None:
    """Load a .pth state dict with weights_only=True into net under strict=True, or explain the mismatch."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise ModelUnavailable(f"{path} could not be loaded as a plain PyTorch state dict ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelUnavailable(f"{path} holds a {type(state).__name__}, not a state dict of {what}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys
        )
        raise ModelUnavailable(f"{path} is not a {what} checkpoint ({detail})")
    net.load_state_dict(state, strict=True)
