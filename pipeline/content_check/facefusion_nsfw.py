"""FaceFusion's content analysers: three ONNX classifiers (nsfw_1 EraX YOLO detector, nsfw_2 Marqo ViT,
nsfw_3 Freepik EVA02), each fed the image letterboxed to its size, RGB 0..1 normalised with its mean and
standard deviation, NCHW, as input 'input'; the image is blocked when 2 of 3 agree (thresholds.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable
from ..runtime.onnx_session import fixed_dims
from .thresholds import FACEFUSION_THRESHOLDS, FACEFUSION_VIEW_ZOOM, FACEFUSION_VOTES_TO_BLOCK
from .verdict import Verdict
from .views import WHOLE, CutEdges


@dataclass(frozen=True)
class AnalyserSpec:
    file: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


ANALYSERS = {
    "nsfw_1": AnalyserSpec("nsfw_1.onnx", 640, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "nsfw_2": AnalyserSpec("nsfw_2.onnx", 384, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "nsfw_3": AnalyserSpec("nsfw_3.onnx", 448, (0.48145466, 0.4578275, 0.40821073),
                           (0.26862954, 0.26130258, 0.27577711)),
}


def letterbox(rgb: np.ndarray, size: int) -> np.ndarray:
    """Scale to fit size x size keeping the aspect ratio, centred on black (FaceFusion's fit_contain_frame)."""
    import cv2

    height, width = rgb.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
    resized = cv2.resize(rgb, (new_w, new_h))
    top, left = (size - new_h) // 2, (size - new_w) // 2
    return np.pad(resized, ((top, size - new_h - top), (left, size - new_w - left), (0, 0)))


def model_input(rgb: np.ndarray, spec: AnalyserSpec) -> np.ndarray:
    """[1, 3, size, size] float32: (letterboxed / 255 - mean) / std, written channel by channel (a large
    image is judged in many windows, so this runs often)."""
    frame = letterbox(rgb, spec.size)
    out = np.empty((1, 3, spec.size, spec.size), np.float32)
    for channel, (mean, std) in enumerate(zip(spec.mean, spec.std)):
        np.multiply(frame[:, :, channel], np.float32(1.0 / (255.0 * std)), out=out[0, channel], casting="unsafe")
        out[0, channel] -= np.float32(mean / std)
    return out


def score(name: str, output: np.ndarray) -> float:
    """The one number each analyser's threshold applies to."""
    if name == "nsfw_1":  # [1, 4 + classes, boxes]
        return float(np.max(output[:, 4:]))
    logits = output[0]
    if name == "nsfw_2":  # [nsfw, sfw]
        return float(logits[0] - logits[1])
    return float((logits[2] + logits[3]) - (logits[0] + logits[1]))  # [neutral, low, medium, high]


class FacefusionNsfw:
    name = "facefusion nsfw_1/2/3"
    view_size = FACEFUSION_VIEW_ZOOM * min(spec.size for spec in ANALYSERS.values())

    def __init__(self, paths: dict[str, Path]) -> None:
        import onnxruntime as ort

        from ..runtime.onnx_session import default_providers

        self.sessions = {}
        for key, path in paths.items():
            try:
                session = ort.InferenceSession(str(path), providers=default_providers())
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a bad file
                raise ModelUnavailable(f"content analyser {path} could not be loaded ({type(exc).__name__}); "
                                       f"delete it so it is downloaded again, or get "
                                       f"{ANALYSERS[key].file} from FaceFusion's models-3.3.0 release") from None
            shape = session.get_inputs()[0].shape
            if list(fixed_dims(shape)[1:]) != [3, ANALYSERS[key].size, ANALYSERS[key].size]:
                raise ModelUnavailable(f"content analyser {path} takes {shape}; {key} takes "
                                       f"[1, 3, {ANALYSERS[key].size}, {ANALYSERS[key].size}]")
            self.sessions[key] = session

    def scores(self, rgb: np.ndarray) -> dict[str, float]:
        found = {}
        for key, session in self.sessions.items():
            output = session.run(None, {session.get_inputs()[0].name: model_input(rgb, ANALYSERS[key])})[0]
            found[key] = score(key, output)
        return found

    def verdict(self, rgb: np.ndarray, cut: CutEdges = WHOLE) -> Verdict:
        """Each analyser judges the view as a whole, so cut edges change nothing."""
        scores = self.scores(rgb)
        votes = [key for key, value in scores.items() if value > FACEFUSION_THRESHOLDS[key]]
        detail = ", ".join(f"{key} {value:.2f}/{FACEFUSION_THRESHOLDS[key]}" for key, value in scores.items())
        return Verdict(len(votes) >= FACEFUSION_VOTES_TO_BLOCK, f"{len(votes)} of 3 flag it: {detail}")
