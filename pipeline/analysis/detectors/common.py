"""Pieces every detector shares: the bounded-size copy, NMS, loading a state dict strictly."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from ...runtime.devices import torch_device
from ...errors import ModelUnavailable
from ...face import Face


class FaceDetector(Protocol):
    name: str
    runs_on: str

    def detect(self, rgb: np.ndarray) -> list[Face]: ...


class Network(NamedTuple):
    """Where a torch detector's network is and how its variants are named: module and class (in this
    package), the API name format and the checkpoint name format, each with {} for the variant."""

    module: str
    net_class: str
    name: str
    checkpoint: str


TORCH_DETECTORS: list[type["TorchDetector"]] = []  # every TorchDetector subclass, in the order they are defined


class TorchDetector:
    """A torch detector: its checkpoint's state dict loaded, on device, into the network its subclass names
    (built for the variant that variant_of recognised in the state dict). detect(rgb) runs the network on a
    copy whose long side is at most max_side (the subclass's net_input and read_faces), keeps the boxes NMS
    keeps and maps the faces back to rgb."""

    network: Network
    variants: tuple[str, ...]
    score_threshold: float
    nms_threshold: float

    def __init__(self, path: Path, state: dict, variant: str, device: str | None = None,
                 score_threshold: float | None = None, nms_threshold: float | None = None,
                 max_side: int = 640) -> None:
        import torch

        network = self.network
        net = getattr(import_module(f".{network.module}", __package__), network.net_class)(variant)  # imports torch
        self.name = network.name.format(variant)
        self.device = torch_device(device)
        self.runs_on = f"torch:{self.device}"
        load_state_dict(state, Path(path), net, network.checkpoint.format(variant))
        self.net = net.eval().to(self.device)
        self.torch_module = self.net  # what a host's memory manager may account for
        self.score_threshold = self.score_threshold if score_threshold is None else score_threshold
        self.nms_threshold = self.nms_threshold if nms_threshold is None else nms_threshold
        self.max_side = max_side
        self._torch = torch

    @classmethod
    def variant_of(cls, keys: set[str]) -> str | None:
        """The variant whose layout these state-dict keys have, or None if they are not this network's."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        TORCH_DETECTORS.append(cls)

    @classmethod
    def checkpoint_name(cls, variant: str) -> str:
        return cls.network.checkpoint.format(variant)

    @classmethod
    def api_name(cls, variant: str) -> str:
        return cls.network.name.format(variant)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.detect_batch([rgb])[0]

    def detect_batch(self, frames: list[np.ndarray]) -> list[list[Face]]:
        """The faces of several frames of one size, with one network call for all (keeps a GPU busy)."""
        smalls = [bounded_copy(rgb, self.max_side) for rgb in frames]
        outputs = self.run_net(np.stack([self.net_input(small) for small, _ in smalls]))
        found = []
        for i, ((small, scale), rgb) in enumerate(zip(smalls, frames)):
            boxes, scores, landmarks = self.read_faces(outputs, i, small.shape[:2])
            order = nms(boxes, scores, self.nms_threshold)
            found.append(faces_from_arrays(boxes[order], scores[order], landmarks[order], scale, rgb.shape))
        return found

    def net_input(self, small: np.ndarray) -> np.ndarray:
        """The network's (3, H, W) float32 input for one bounded RGB copy."""
        raise NotImplementedError

    def read_faces(self, outputs, i: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes xyxy, scores, 5 landmarks as 10 values) above the score threshold in image i of the batch's
        outputs, in the pixels of its bounded copy of size (height, width)."""
        raise NotImplementedError

    def run_net(self, batch: np.ndarray):
        """The network's outputs for a (N, 3, H, W) float32 batch."""
        x = self._torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
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


def load_state_dict(state: dict, path: Path, net, what: str) -> None:
    """Load state into net under strict=True, or explain the mismatch naming path."""
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
