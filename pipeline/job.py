"""The whole Faceswap V3 job: analyse source and target frames, pair faces, swap, restore."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from .analysis import Analysis, FaceSet, analyze_frames, analyze_image, track_analyses
from .errors import BadInput
from .face import Face
from .face_masks import MaskOptions
from .face_model import FaceModel, face_model_embeddings
from .frame_pipeline import RestoreFrames, RestoreQueue, frame_shapes, read_ahead
from .models.swap_models import SwapModels
from .options import DEFAULTS
from .params import FaceswapParams
from .paste import frame_masks
from .pixel_boost import check_boost, parse_pixel_boost
from .reference import ReferenceSelector
from .restore import restore_call, restore_frames
from .selection import missing_faces_reason, pair_indexes, require_all
from .similarity import cosine_similarity, frame_similarity
from .swap import SwapOptions, swap_frame
from .threads import thread_budget
from .tracking import describe_tracks

log = logging.getLogger("faceswap_v3")
DETECT_BATCH = 4  # frames per detector call on a GPU (torch detectors)


@dataclass
class FaceswapResult:
    frames: list[np.ndarray]
    warnings: list[str] = field(default_factory=list)
    # per frame, the ArcFace cosine between each swapped face (as output) and its source identity;
    # empty when measure_similarity was off
    face_similarities: list[list[float]] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)  # per frame: float32 (H, W), the union of paste weights
    tracks: list[str] = field(default_factory=list)  # with track_faces: per frame, which face each track swapped
    faces_swapped: list[int] = field(default_factory=list)  # per frame
    runs_on: list[str] = field(default_factory=list)  # "model: where it ran", e.g. "GFPGANv1.4.pth: torch:cuda:0"

    @property
    def similarity_per_frame(self) -> list[float]:
        """One value per frame; NaN for every frame when the similarity was not measured."""
        if not self.face_similarities:
            return [float("nan")] * len(self.frames)
        return [frame_similarity(values) for values in self.face_similarities]


def source_embeddings(source: FaceSet, models: SwapModels, what: str = "source image") -> dict[int, np.ndarray]:
    """Embeddings of the source faces picked in its first frame, keyed by index: computed once."""
    selection = source.analyses[0].selection
    if source.analyses[0].detected == 0:
        raise BadInput(f"no face found in the {what}; use a photo where a face is clearly visible")
    faces = require_all(selection, "source", source.request.index_name)
    recognizer = models.recognizer()
    rgb = source.first_frame
    return {index: recognizer.embed(rgb, face) for index, face in zip(selection.labels, faces)}


def embed_source(source_rgb: np.ndarray, params: FaceswapParams, models: SwapModels) -> dict[int, np.ndarray]:
    """The embeddings of the source faces the parameters pick, keyed by source index."""
    request = params.source_request
    return source_embeddings(FaceSet(request, source_rgb, [analyze_image(source_rgb, request, models.store,
                                                                          models.device)]), models)


def swap_frames(frames: Sequence[np.ndarray], analyses: Iterable[Analysis], target_indexes: list[int],
                embeddings: dict[int, np.ndarray], source_indexes: list[int], models: SwapModels,
                restore: RestoreFrames | None = None,
                after_frame: Callable[[int], None] | None = None, options: SwapOptions | None = None,
                mask: np.ndarray | None = None, measure_similarity: bool = False,
                restore_batch: int = 1, on_step: Callable[[int, int, int], None] | None = None,
                index_name: str = "input_faces_index") -> FaceswapResult:
    """Swap every target frame, one at a time (analyses may be a generator that analyses each frame
    as it comes); frames without the asked-for faces pass through with a warning. Swapped frames are
    restored restore_batch faces per call of restore (frames, faces per frame, masks per frame) -> frames.

    target_indexes: what the selections' labels are (target face indexes, or reference labels in
    reference mode); each picked face gets the source its label pairs with.
    options: pixel boost and face masks; mask: the user's (H, W) or (B, H, W) 0..1 mask, 0 = never change.
    measure_similarity: embed every swapped face (one recognizer call each) for face_similarities.
    on_step(frame, done, total): progress inside a frame, one step per face swapped and per face
    restored (called with done=0 first); after_frame(i) after each frame. index_name: the parameter
    or widget that picked the target faces, named in the warnings."""
    source_of = {t: s for s, t in pair_indexes(source_indexes, target_indexes)}
    options = options or SwapOptions()
    keeps = frame_masks(mask, len(frames), frames[0].shape) if mask is not None and len(frames) else None
    swapper = models.swapper()
    boost = check_boost(parse_pixel_boost(options.pixel_boost), swapper.crop_size, swapper.name) * swapper.crop_size
    masker = models.masker(options.masks)
    recognizer = models.recognizer() if measure_similarity else None
    result = FaceswapResult(frames=[])
    swapped: dict[int, list[tuple[Face, np.ndarray]]] = {}  # frame index -> its pairs, until the frame is finished
    steps_done: dict[int, int] = {}

    def steps(pairs: list) -> int:  # one per face swapped, one more per face restored
        return len(pairs) * (1 if restore is None else 2)

    def step(index: int) -> None:
        steps_done[index] += 1
        if on_step:
            on_step(index, steps_done[index], steps(swapped[index]))

    restoring = RestoreQueue(restore, restore_batch, on_face_restored=step)

    def finish(done: list[tuple[int, np.ndarray]]) -> None:
        for index, frame in done:
            result.frames.append(frame)
            pairs = swapped.pop(index)
            steps_done.pop(index)
            if recognizer is not None:
                result.face_similarities.append([cosine_similarity(recognizer.embed(frame, face), embedding)
                                                 for face, embedding in pairs])
            if after_frame:
                after_frame(index)

    detectors_ran: list[str] = []
    for i, (analysis, rgb) in enumerate(zip(analyses, frames)):  # analysis first: it decodes a lazy frame
        detectors_ran += [where for where in analysis.runs_on if where not in detectors_ran]
        selection = analysis.selection
        pairs = [(face, embeddings[source_of[t]]) for t, face in zip(selection.labels, selection.picked)
                 if face is not None]
        if analysis.tracks:
            result.tracks.append(f"frame {i}: {describe_tracks(analysis.tracks, selection.labels)}")
        if selection.missing:
            prefix = f"frame {i}: " if len(frames) > 1 or analysis.tracks else ""
            reason = missing_faces_reason(selection, index_name, tracked=bool(analysis.tracks))
            message = f"{prefix}{reason}, left untouched"
            result.warnings.append(message)
            log.warning(message)
        keep = keeps[i] if keeps else None
        coverage = np.zeros(rgb.shape[:2], np.float32)
        swapped[i], steps_done[i] = pairs, 0
        if on_step:
            on_step(i, 0, steps(pairs))
        out = swap_frame(rgb, pairs, swapper, boost, masker, keep, coverage, on_face=lambda: step(i))
        result.masks.append(coverage)
        result.faces_swapped.append(len(pairs))
        finish(restoring.push(i, out, [face for face, _ in pairs], (keep, coverage)))
    finish(restoring.flush())
    result.runs_on = detectors_ran + [f"{name}: {where}" for name, where in models.runs_on.items()]
    return result


def make_restore(models: SwapModels, params: FaceswapParams, fidelity: float = DEFAULTS["codeformer_fidelity"],
                 batch_faces: int = 1) -> RestoreFrames | None:
    """The restore step the parameters ask for, or None when face_restore_weight is 0 (nothing loads).
    It restores the swapped frames it is given in place (they are the swap's own copies)."""
    if params.face_restore_weight == 0:
        return None
    restore_crops, paste_on = restore_call(models.restorer(params.face_restore), fidelity, params.interpolation)

    def restore(frames: list[np.ndarray], faces: list[list[Face]], masks=None, on_face=None) -> list[np.ndarray]:
        return restore_frames(frames, faces, restore_crops,
                              params.face_restore_weight, params.interpolation, batch_faces, in_place=True,
                              masks=masks, on_face=on_face, paste_on=paste_on)

    return restore


def run_faceswap(source_rgb: np.ndarray | None, target_frames: Sequence[np.ndarray], params: FaceswapParams,
                 models: SwapModels, after_frame: Callable[[int], None] | None = None,
                 on_step: Callable[[int, int, int], None] | None = None, *,
                 source_model: FaceModel | None = None, reference: ReferenceSelector | None = None,
                 masks: MaskOptions | None = None, mask: np.ndarray | None = None,
                 track_faces: bool = False, pipelined: bool | None = None,
                 embeddings: dict[int, np.ndarray] | None = None) -> FaceswapResult:
    """The API's job on one source image and one or more target frames.

    on_step: progress inside a frame (see swap_frames). source_model: a face model as the identity instead
    of source_rgb. reference: pick target faces by identity (reference mode) instead of by
    input_faces_index. masks: face mask types beyond the default box; mask: the user's mask, see swap_frames.
    track_faces: follow the first frame's picked faces through the batch (tracking.py) instead of
    numbering every frame afresh. pipelined: analyse frame k+1 on a worker thread while frame k is
    swapped, and restore as many faces per call as the restorer takes well; False runs every stage
    strictly one after another, one face per restorer call (same frames where the restorer's batch
    is one face, as on the CPU); None: overlapped where it wins (threads.py: on a GPU, or a CPU with
    cores for both stages). params.measure_similarity: score every swapped face (see swap_frames).
    embeddings: the source's, already computed by embed_source (a worker's cache), instead of source_rgb."""
    if not target_frames:
        raise BadInput("the target batch is empty: no frame to swap")
    sizes = frame_shapes(target_frames)
    if len(sizes) > 1:
        raise BadInput(f"the target frames differ in size ({', '.join(f'{s[1]}x{s[0]}' for s in sorted(sizes))}); "
                       "resize them to one size first")
    on_gpu = models.on_gpu
    if pipelined is None:
        pipelined = thread_budget().overlap(on_gpu)
    target_request = params.target_request
    source_indexes = list(params.source_indexes)
    pair_indexes(source_indexes, list(params.target_indexes))
    if embeddings is None and source_model is not None:
        embeddings = face_model_embeddings(source_model, source_indexes)
    elif embeddings is None:
        embeddings = embed_source(source_rgb, params, models)
    batch_faces = models.restorer(params.face_restore).batch_size if pipelined and params.face_restore_weight else 1
    restore = make_restore(models, params, batch_faces=batch_faces)
    analyses = analyze_frames(target_frames, target_request, models.store, models.device,
                              DETECT_BATCH if on_gpu else 1)
    target_indexes = list(params.target_indexes)
    if reference is not None:
        analyses = (reference.apply(frame, a, models) for frame, a in zip(target_frames, analyses))
        target_indexes = reference.labels
    if track_faces:
        analyses = track_analyses(analyses)
    if pipelined:
        analyses = read_ahead(analyses)
    options = SwapOptions(params.pixel_boost, masks or MaskOptions())
    try:
        return swap_frames(target_frames, analyses, target_indexes, embeddings, source_indexes, models, restore,
                           after_frame, options, mask, params.measure_similarity, batch_faces, on_step)
    finally:
        analyses.close()  # on Cancel or an error: the worker stops after the frame it is on
