"""The whole Faceswap V3 job: analyse source and target frames, pair faces, swap, restore."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from .analysis import Analysis, AnalysisRequest, FaceSet, analyze_image
from .engine import SwapModels
from .errors import BadInput
from .face import Face
from .params import FaceswapParams
from .restore import restore_faces
from .selection import pair_indexes, parse_indexes, require_all
from .swap import swap_frame

log = logging.getLogger("faceswap_v3")


@dataclass
class FaceswapResult:
    frames: list[np.ndarray]
    warnings: list[str] = field(default_factory=list)
    faces_swapped: list[int] = field(default_factory=list)  # per frame
    runs_on: list[str] = field(default_factory=list)  # "model: where it ran", e.g. "GFPGANv1.4.pth: torch:cuda:0"


def source_embeddings(source: FaceSet, models: SwapModels, what: str = "source image") -> dict[int, np.ndarray]:
    """Embeddings of the source faces picked in its first frame, keyed by index: computed once."""
    selection = source.analyses[0].selection
    if source.analyses[0].detected == 0:
        raise BadInput(f"no face found in the {what}; use a photo where a face is clearly visible")
    faces = require_all(selection, "source", source.request.index_name)
    recognizer = models.recognizer()
    rgb = source.frames[0]
    return {index: recognizer.embed(rgb, face) for index, face in zip(selection.requested, faces)}


def swap_frames(frames: list[np.ndarray], analyses: Iterable[Analysis], target_indexes: list[int],
                embeddings: dict[int, np.ndarray], source_indexes: list[int], models: SwapModels,
                restore: Callable[[np.ndarray, list[Face]], np.ndarray] | None = None,
                after_frame: Callable[[int], None] | None = None,
                on_step: Callable[[int, int, int], None] | None = None) -> FaceswapResult:
    """Swap every target frame, one at a time (analyses may be a generator that analyses each frame
    as it comes); frames without the asked-for faces pass through with a warning.

    on_step(frame, done, total): progress inside a frame, one step per face swapped and per face
    restored (called with done=0 first); after_frame(i) after each frame."""
    pairs_of_indexes = pair_indexes(source_indexes, target_indexes)
    swapper = models.swapper()
    result = FaceswapResult(frames=[])
    detectors_ran: list[str] = []
    for i, (rgb, analysis) in enumerate(zip(frames, analyses)):
        detectors_ran += [where for where in analysis.runs_on if where not in detectors_ran]
        selection = analysis.selection
        pairs = [(face, embeddings[s]) for (s, _), face in zip(pairs_of_indexes, selection.picked) if face is not None]
        if selection.missing:
            prefix = f"frame {i}: " if len(frames) > 1 else ""
            found = "no face" if selection.available == 0 else f"only {selection.available} face(s)"
            message = (f"{prefix}target has {found} after filtering; input_faces_index asks for "
                       f"{', '.join(map(str, selection.missing))}, left untouched")
            result.warnings.append(message)
            log.warning(message)
        steps = len(pairs) * (1 if restore is None else 2)
        if on_step:
            on_step(i, 0, steps)
        out = rgb
        for done, pair in enumerate(pairs, 1):  # face by face: same pixels as all at once, with progress
            out = swap_frame(out, [pair], swapper)
            if on_step:
                on_step(i, done, steps)
        for done, (face, _) in enumerate(pairs if restore is not None else [], len(pairs) + 1):
            out = restore(out, [face])
            if on_step:
                on_step(i, done, steps)
        result.frames.append(out)
        result.faces_swapped.append(len(pairs))
        if after_frame:
            after_frame(i)
    result.runs_on = detectors_ran + [f"{name}: {where}" for name, where in models.runs_on.items()]
    return result


def make_restore(models: SwapModels, params: FaceswapParams, fidelity: float = 0.5):
    """The restore step the parameters ask for, or None when face_restore_weight is 0 (nothing loads)."""
    if params.face_restore_weight == 0:
        return None
    restorer = models.restorer(params.face_restore)

    def restore(rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        return restore_faces(rgb, faces, lambda crop: restorer.restore(crop, fidelity),
                             params.face_restore_weight, params.interpolation)

    return restore


def run_faceswap(source_rgb: np.ndarray, target_frames: list[np.ndarray], params: FaceswapParams,
                 models: SwapModels, after_frame: Callable[[int], None] | None = None,
                 on_step: Callable[[int, int, int], None] | None = None) -> FaceswapResult:
    """The API's job on one source image and one or more target frames."""
    if not target_frames:
        raise BadInput("the target batch is empty: no frame to swap")
    sizes = {frame.shape for frame in target_frames}
    if len(sizes) > 1:
        raise BadInput(f"the target frames differ in size ({', '.join(f'{s[1]}x{s[0]}' for s in sorted(sizes))}); "
                       "resize them to one size first")
    source_request = AnalysisRequest(params.facedetection, params.detection_face_order, params.detect_gender_source,
                                     params.source_faces_index, "source_faces_index")
    target_request = AnalysisRequest(params.facedetection, params.detection_face_order, params.detect_gender_input,
                                     params.input_faces_index, "input_faces_index")
    source_indexes = parse_indexes(params.source_faces_index, "source_faces_index")
    pair_indexes(source_indexes, parse_indexes(params.input_faces_index, "input_faces_index"))
    source = FaceSet(source_request, [source_rgb],
                     [analyze_image(source_rgb, source_request, models.store, models.device)])
    embeddings = source_embeddings(source, models)
    restore = make_restore(models, params)
    analyses = (analyze_image(frame, target_request, models.store, models.device) for frame in target_frames)
    return swap_frames(target_frames, analyses, parse_indexes(params.input_faces_index, "input_faces_index"),
                       embeddings, source_indexes, models, restore, after_frame, on_step)
