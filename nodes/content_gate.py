"""The content check inside the swapping nodes: the source and every target frame are checked before the
swap, every result after it; a blocked frame comes out as it went in (bit-identical), with a warning
(a toast and a line in info). Only a classifier already installed is used: nothing is downloaded."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading

import numpy as np

from ..pipeline.content_check import HOW_TO_GET_ONE, ContentCheck, installed_check
from ..pipeline.job import FaceswapResult
from .comfy_env import folders

log = logging.getLogger("faceswap_v3")
ENV_CLASSIFIER = "FACESWAP_V3_CONTENT_CLASSIFIER"  # nudenet or facefusion: use only that one
NOT_INSTALLED = f"content check: no classifier installed, frames were not checked ({HOW_TO_GET_ONE})"
_lock = threading.Lock()
_loaded: dict[tuple, ContentCheck | None] = {}


def node_check(setting: str) -> ContentCheck | None:
    """The installed classifier (loaded once per process), None when the widget says off or none is
    installed. A broken or incomplete FaceFusion set raises ModelUnavailable naming the file."""
    if setting == "off":
        return None
    only = os.environ.get(ENV_CLASSIFIER) or None
    store = dataclasses.replace(folders.model_store(), allow_download=False)
    key = (only, tuple(store.dirs("content_analyser")))
    with _lock:
        if _loaded.get(key) is None:  # none installed yet: look again next time
            _loaded[key] = installed_check(store, only)
        return _loaded[key]


def blocked_targets(check: ContentCheck, source: np.ndarray | None, targets) -> dict[int, str]:
    """Frame index -> why it is blocked: every frame when the source is flagged, else each flagged frame."""
    if source is not None:
        verdict = check.verdict(source)
        if verdict.flagged:
            return {i: f"the source image was blocked ({check.name}: {verdict.detail})" for i in range(len(targets))}
    blocked = {}
    for i in range(len(targets)):
        verdict = check.verdict(targets[i])
        if verdict.flagged:
            blocked[i] = f"the target was blocked ({check.name}: {verdict.detail})"
    return blocked


def blocked_results(check: ContentCheck, result: FaceswapResult, skip: dict[int, str]) -> dict[int, str]:
    found = {}
    for i, frame in enumerate(result.frames):
        if i not in skip:
            verdict = check.verdict(frame)
            if verdict.flagged:
                found[i] = f"the result was blocked ({check.name}: {verdict.detail})"
    return found


def unswapped(targets) -> FaceswapResult:
    """What a run gives when every frame is blocked: the frames as they are, nothing swapped."""
    frames = [targets[i] for i in range(len(targets))]
    return FaceswapResult(frames, masks=[np.zeros(f.shape[:2], np.float32) for f in frames],
                          face_similarities=[[] for _ in frames], faces_swapped=[0] * len(frames))


def pass_through(image, target_image, result: FaceswapResult, blocked: dict[int, str]):
    """The IMAGE output with each blocked frame replaced by the input frame itself (as float32: exact for
    float16/bfloat16 input), its mask zeroed, no similarity, and a warning per frame in result.warnings."""
    import torch

    for i, why in sorted(blocked.items()):
        image[i] = target_image[i].to(device=image.device, dtype=torch.float32)
        result.masks[i] = np.zeros_like(result.masks[i])
        if i < len(result.face_similarities):  # empty when measure_similarity is off
            result.face_similarities[i] = []
        result.faces_swapped[i] = 0
        result.warnings.append(f"frame {i}: {why}; passed through unchanged")
    return image


def with_check_note(info: str, setting: str, check: ContentCheck | None) -> str:
    """info, plus a line saying no classifier is installed (info only, not a toast on every run)."""
    return f"{info}\n{NOT_INSTALLED}" if setting != "off" and check is None else info
