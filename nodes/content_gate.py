"""The content check inside the swapping nodes, one gate for both: the source and every target frame are
checked before the swap and a blocked frame is never swapped (as the server refuses before its swap); every
swapped frame is checked after it. A blocked frame comes out as it went in (bit-identical), with 0 faces
swapped, a zero mask and a warning (a toast and a line in info). Only a classifier already installed is
used: nothing is downloaded."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
from typing import Callable, Sequence

import numpy as np

from ..pipeline.content_check import (CLASSIFIERS, HOW_TO_GET_ONE, ContentCheck, classifier_models,
                                      installed_check, installed_choice)
from ..pipeline.errors import BadInput
from ..pipeline.models.store import NeededModel
from ..pipeline.runtime.read_ahead import LazyFrames
from ..pipeline.job import FaceswapResult
from .comfy_env import folders, progress, run_report
from .tensors import arrays_to_mask, frames_to_image, unread_mask

log = logging.getLogger("faceswap_v3")
ENV_CLASSIFIER = "FACESWAP_V3_CONTENT_CLASSIFIER"  # nudenet or facefusion: use only that one
NOT_INSTALLED = f"content check: no classifier installed, frames were not checked ({HOW_TO_GET_ONE})"
_lock = threading.Lock()
_loaded: dict[tuple, ContentCheck | None] = {}

# swap(frames, kept, mask, after_frame, on_step): the node's engine call on the frames the check let
# through; kept[j] is the batch index of frames[j], mask the user's mask for those frames
Swap = Callable[[Sequence[np.ndarray], list[int], "np.ndarray | None", Callable | None, Callable | None],
                FaceswapResult]


def classifier_setting() -> str | None:
    """FACESWAP_V3_CONTENT_CLASSIFIER: the one classifier to use, None (unset or blank) for whichever is
    installed; BadInput naming the setting for any other value."""
    text = os.environ.get(ENV_CLASSIFIER, "")
    if not text.strip():
        return None
    if text.strip().lower() not in CLASSIFIERS:
        raise BadInput(f"{ENV_CLASSIFIER} must be {' or '.join(CLASSIFIERS)}, got {text!r}; unset it to use "
                       "whichever classifier is installed")
    return text.strip().lower()


def node_check(setting: str) -> ContentCheck | None:
    """The installed classifier (loaded once per process), None when the widget says off or none is
    installed (looked for again on the next run). A broken or incomplete FaceFusion set raises
    ModelUnavailable naming the file."""
    if setting == "off":
        return None
    only = classifier_setting()
    store = dataclasses.replace(folders.model_store(), allow_download=False)
    key = (only, tuple(store.dirs("content_analyser")))
    with _lock:
        if _loaded.get(key) is None:  # none installed yet: look again next time
            _loaded[key] = installed_check(store, only)
        return _loaded[key]


def check_models(setting: str) -> list[NeededModel]:
    """The model files node_check loads for the setting (the installed classifier's; never downloaded)."""
    if setting == "off":
        return []
    try:
        only = classifier_setting()
    except BadInput:  # node_check says so when the node runs
        return []
    choice = installed_choice(folders.model_store(), only)
    return [dataclasses.replace(need, downloaded_on_use=False) for need in classifier_models(choice)]


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


def unswapped(targets, paste_masks: bool = True) -> FaceswapResult:
    """What a run gives when every frame is blocked: the frames as they are, nothing swapped (zero masks,
    none when paste_masks is False)."""
    frames = [targets[i] for i in range(len(targets))]
    return FaceswapResult(frames, masks=[np.zeros(f.shape[:2], np.float32) for f in frames] if paste_masks else [],
                          face_similarities=[[] for _ in frames], faces_swapped=[0] * len(frames))


def _picked(targets, kept: list[int]):
    """The frames at the kept indexes, still decoded only when asked for."""
    if isinstance(targets, LazyFrames):
        return LazyFrames(len(kept), targets.shape, lambda j: targets[kept[j]])
    return [targets[i] for i in kept]


def _picked_mask(mask: np.ndarray | None, kept: list[int], count: int) -> np.ndarray | None:
    """The user's mask for the kept frames: a per-frame mask is cut down, one for all frames stays."""
    if mask is not None and mask.ndim == 3 and len(mask) == count > 1:
        return mask[kept]
    return mask


_FRAME = re.compile(r"^frame (\d+): ")


def _renumbered(lines: list[str], kept: list[int], count: int) -> list[str]:
    """The engine's per-frame lines, which number the frames it was given, numbered as in the batch."""
    out = []
    for line in lines:
        match = _FRAME.match(line)
        if match:
            out.append(f"frame {kept[int(match[1])]}: {line[match.end():]}")
        elif len(kept) == 1 and count > 1:  # the engine names no frame when it is given one
            out.append(f"frame {kept[0]}: {line}")
        else:
            out.append(line)
    return out


def _merged(targets, kept: list[int], swapped: FaceswapResult) -> FaceswapResult:
    """The whole batch's result: the swapped frames at their indexes, the others as unswapped() gives them."""
    count = len(targets)
    at = {i: j for j, i in enumerate(kept)}
    frames = [swapped.frames[at[i]] if i in at else targets[i] for i in range(count)]
    return FaceswapResult(
        frames, warnings=_renumbered(swapped.warnings, kept, count),
        face_similarities=[swapped.face_similarities[at[i]] if i in at else [] for i in range(count)]
        if swapped.face_similarities else [],
        masks=[swapped.masks[at[i]] if i in at else np.zeros(frames[i].shape[:2], np.float32) for i in range(count)]
        if swapped.masks else [],
        tracks=_renumbered(swapped.tracks, kept, count),
        faces_swapped=[swapped.faces_swapped[at[i]] if i in at else 0 for i in range(count)],
        runs_on=swapped.runs_on)


def _on_kept(callback: Callable | None, kept: list[int]) -> Callable | None:
    """A progress callback whose first argument (a frame of those swapped) is mapped to its batch index."""
    if callback is None:
        return None
    return lambda j, *rest: callback(kept[j], *rest)


def pass_through(image, target_image, result: FaceswapResult, blocked: dict[int, str]):
    """The IMAGE output with each blocked frame replaced by the input frame itself (as float32: exact for
    float16/bfloat16 input), its mask zeroed, no similarity, and a warning per frame in result.warnings."""
    import torch

    for i, why in sorted(blocked.items()):
        image[i] = target_image[i].to(device=image.device, dtype=torch.float32)
        if i < len(result.masks):  # empty when the mask output is not built
            result.masks[i] = np.zeros_like(result.masks[i])
        if i < len(result.face_similarities):  # empty when measure_similarity is off
            result.face_similarities[i] = []
        result.faces_swapped[i] = 0
        result.warnings.append(f"frame {i}: {why}; passed through unchanged")
    return image


def with_check_note(info: str, setting: str, check: ContentCheck | None) -> str:
    """info, plus a line saying no classifier is installed (info only, not a toast on every run)."""
    return f"{info}\n{NOT_INSTALLED}" if setting != "off" and check is None else info


def checked_swap(setting: str, source: np.ndarray | None, targets: Sequence[np.ndarray], target_image,
                 mask: np.ndarray | None, swap: Swap, paste_masks: bool = True) -> tuple:
    """A swapping node's outputs (image, info, mask, face_similarity) for target_image, whose frames are
    targets: the frames the check lets through are swapped by swap(), the others never reach it.
    paste_masks False (swap() keeps no masks): the mask output is tensors.unread_mask, all zeros."""
    check = node_check(setting)
    blocked = blocked_targets(check, source, targets) if check else {}
    kept = [i for i in range(len(targets)) if i not in blocked]
    after_frame, on_step = progress.step_progress(len(targets))
    if len(kept) == len(targets):
        result = swap(targets, kept, mask, after_frame, on_step)
    elif kept:
        swapped = swap(_picked(targets, kept), kept, _picked_mask(mask, kept, len(targets)),
                       _on_kept(after_frame, kept), _on_kept(on_step, kept))
        result = _merged(targets, kept, swapped)
    else:  # nothing may be swapped: no swap runs
        result = unswapped(targets, paste_masks)
    if check and kept:
        blocked.update(blocked_results(check, result, blocked))
    image = pass_through(frames_to_image(result.frames, release=True), target_image, result, blocked)
    info = with_check_note(run_report.report_run(result), setting, check)
    masks = arrays_to_mask(result.masks, release=True) if paste_masks else unread_mask(*image.shape[:3])
    return image, info, masks, result.similarity_per_frame
