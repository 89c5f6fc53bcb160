"""The whole Faceswap V3 job: analyse source and target frames, pair faces, swap, restore."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from .analysis.analyze import Analysis, AnalysisRequest, FaceSet, analyze_frames, analyze_image, track_analyses
from .errors import BadInput
from .face import Face
from .swap.face_masks import MaskOptions
from .analysis.face_model import FaceModel, face_model_embeddings
from .restore.restore_queue import RestoreFrames, RestoreQueue
from .runtime.read_ahead import frame_shapes, read_ahead
from .swap_models import SwapModels
from .options import DEFAULTS
from .params import FaceswapParams
from .geometry.paste import frame_masks
from .swap.pixel_boost import check_boost, parse_pixel_boost
from .analysis.reference import ReferenceSelector
from .restore.restorer import restore_call, restore_frames, restores
from .analysis.selection import missing_faces_reason, pair_indexes, require_all
from .analysis.similarity import cosine_similarity, frame_similarity
from .swap.frame_swap import SwapOptions, swap_frame
from .swap_plan import Progress, SwapPlan
from .runtime.threads import thread_budget
from .analysis.tracking import describe_tracks

log = logging.getLogger("faceswap_v3")
DETECT_BATCH = 4  # frames per detector call on a GPU (torch detectors)


@dataclass
class FaceswapResult:
    frames: list[np.ndarray]
    warnings: list[str] = field(default_factory=list)
    # per frame, the ArcFace cosine between each swapped face (as output) and its source identity;
    # empty when measure_similarity was off
    face_similarities: list[list[float]] = field(default_factory=list)
    # per frame: float32 (H, W), the union of paste weights; empty when the plan keeps no masks
    masks: list[np.ndarray] = field(default_factory=list)
    tracks: list[str] = field(default_factory=list)  # with track_faces: per frame, which face each track swapped
    faces_swapped: list[int] = field(default_factory=list)  # per frame
    runs_on: list[str] = field(default_factory=list)  # "model: where it ran", e.g. "GFPGANv1.4.pth: torch:cuda:0"

    @property
    def similarity_per_frame(self) -> list[float]:
        """One value per frame; NaN for every frame when the similarity was not measured."""
        if not self.face_similarities:
            return [float("nan")] * len(self.frames)
        return [frame_similarity(values) for values in self.face_similarities]


def target_request(params: FaceswapParams) -> AnalysisRequest:
    """What to look for in the target frames: the API's detector, order, input gender filter and indexes."""
    return AnalysisRequest(params.facedetection, params.detection_face_order, params.detect_gender_input,
                           params.input_faces_index, "input_faces_index", params.target_indexes)


def source_request(params: FaceswapParams) -> AnalysisRequest:
    """What to look for in the source image: the API's detector, order, source gender filter and indexes."""
    return AnalysisRequest(params.facedetection, params.detection_face_order, params.detect_gender_source,
                           params.source_faces_index, "source_faces_index", params.source_indexes)


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
    request = source_request(params)
    return source_embeddings(FaceSet(request, source_rgb, [analyze_image(source_rgb, request, models.store,
                                                                          models.device)]), models)


class _FrameSteps:
    """Progress inside frames: each frame's steps (one per face swapped, one more per face restored), reported
    through the plan's on_step."""

    def __init__(self, progress: Progress, restoring: bool) -> None:
        self.progress, self.per_face = progress, 2 if restoring else 1
        self.total: dict[int, int] = {}
        self.done: dict[int, int] = {}

    def start(self, index: int, faces: int) -> None:
        self.total[index], self.done[index] = faces * self.per_face, 0
        if self.progress.on_step:
            self.progress.on_step(index, 0, self.total[index])

    def step(self, index: int) -> None:
        self.done[index] += 1
        if self.progress.on_step:
            self.progress.on_step(index, self.done[index], self.total[index])

    def finish(self, index: int) -> None:
        del self.total[index], self.done[index]


def swap_frames(frames: Sequence[np.ndarray], analyses: Iterable[Analysis], plan: SwapPlan) -> FaceswapResult:
    """Swap every target frame as the plan says, one at a time (analyses may be a generator that analyses each
    frame as it comes); frames without the asked-for faces pass through with a warning. Swapped frames are
    restored plan.restore_batch faces per call of plan.restore."""
    source_of, models, options = plan.source_of(), plan.models, plan.options
    keeps = frame_masks(plan.mask, len(frames), frames[0].shape) if plan.mask is not None and len(frames) else None
    swapper = models.swapper()
    boost = check_boost(parse_pixel_boost(options.pixel_boost), swapper.crop_size, swapper.name) * swapper.crop_size
    masker = models.masker(options.masks)
    recognizer = models.recognizer() if plan.measure_similarity else None
    result = FaceswapResult(frames=[])
    swapped: dict[int, list[tuple[Face, np.ndarray]]] = {}  # frame index -> its pairs, until the frame is finished
    steps = _FrameSteps(plan.progress, plan.restore is not None)
    restoring = RestoreQueue(plan.restore, plan.restore_batch, on_face_restored=steps.step)

    def finish(done: list[tuple[int, np.ndarray]]) -> None:
        for index, frame in done:
            result.frames.append(frame)
            pairs = swapped.pop(index)
            steps.finish(index)
            if recognizer is not None:
                result.face_similarities.append([cosine_similarity(recognizer.embed(frame, face), embedding)
                                                 for face, embedding in pairs])
            if plan.progress.after_frame:
                plan.progress.after_frame(index)

    detectors_ran: list[str] = []
    for i, (analysis, rgb) in enumerate(zip(analyses, frames)):  # analysis first: it decodes a lazy frame
        detectors_ran += [where for where in analysis.runs_on if where not in detectors_ran]
        selection = analysis.selection
        pairs = [(face, plan.embeddings[source_of[t]]) for t, face in zip(selection.labels, selection.picked)
                 if face is not None]
        if analysis.tracks:
            result.tracks.append(f"frame {i}: {describe_tracks(analysis.tracks, selection.labels)}")
        if selection.missing:
            prefix = f"frame {i}: " if len(frames) > 1 or analysis.tracks else ""
            reason = missing_faces_reason(selection, plan.index_name, tracked=bool(analysis.tracks))
            message = f"{prefix}{reason}, left untouched"
            result.warnings.append(message)
            log.warning(message)
        keep = keeps[i] if keeps else None
        coverage = np.zeros(rgb.shape[:2], np.float32) if plan.paste_masks else None
        swapped[i] = pairs
        steps.start(i, len(pairs))
        out = swap_frame(rgb, pairs, swapper, boost, masker, keep, coverage, on_face=lambda: steps.step(i))
        if coverage is not None:
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
    if not restores(params.face_restore_weight):
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
                 embeddings: dict[int, np.ndarray] | None = None, paste_masks: bool = True) -> FaceswapResult:
    """The API's job on one source image and one or more target frames.

    on_step: progress inside a frame (swap_plan.Progress). source_model: a face model as the identity instead
    of source_rgb. reference: pick target faces by identity (reference mode) instead of by
    input_faces_index. masks: face mask types beyond the default box; mask: the user's mask (SwapPlan).
    track_faces: follow the first frame's picked faces through the batch (tracking.py) instead of
    numbering every frame afresh. pipelined: analyse frame k+1 on a worker thread while frame k is
    swapped, and restore as many faces per call as the restorer takes well; False runs every stage
    strictly one after another, one face per restorer call (same frames where the restorer's batch
    is one face, as on the CPU); None: overlapped where it wins (threads.py: on a GPU, or a CPU with
    cores for both stages). params.measure_similarity: score every swapped face (swap_plan.SwapPlan).
    embeddings: the source's, already computed by embed_source (a worker's cache), instead of source_rgb.
    paste_masks: False leaves FaceswapResult.masks empty (SwapPlan.paste_masks)."""
    if not target_frames:
        raise BadInput("the target batch is empty: no frame to swap")
    sizes = frame_shapes(target_frames)
    if len(sizes) > 1:
        raise BadInput(f"the target frames differ in size ({', '.join(f'{s[1]}x{s[0]}' for s in sorted(sizes))}); "
                       "resize them to one size first")
    on_gpu = models.on_gpu
    if pipelined is None:
        pipelined = thread_budget().overlap(on_gpu)
    source_indexes = list(params.source_indexes)
    pair_indexes(source_indexes, list(params.target_indexes))
    if embeddings is None and source_model is not None:
        embeddings = face_model_embeddings(source_model, source_indexes)
    elif embeddings is None:
        embeddings = embed_source(source_rgb, params, models)
    restoring = restores(params.face_restore_weight)
    batch_faces = models.restorer(params.face_restore).batch_size if pipelined and restoring else 1
    restore = make_restore(models, params, batch_faces=batch_faces)
    analyses = analyze_frames(target_frames, target_request(params), models.store, models.device,
                              DETECT_BATCH if on_gpu else 1)
    target_indexes = list(params.target_indexes)
    if reference is not None:
        analyses = (reference.apply(frame, a, models) for frame, a in zip(target_frames, analyses))
        target_indexes = reference.labels
    if track_faces:
        analyses = track_analyses(analyses)
    if pipelined:
        analyses = read_ahead(analyses)
    plan = SwapPlan(models, embeddings, source_indexes, target_indexes,
                    SwapOptions(params.pixel_boost, masks or MaskOptions()), restore, batch_faces, mask,
                    params.measure_similarity, progress=Progress(after_frame, on_step), paste_masks=paste_masks)
    try:
        return swap_frames(target_frames, analyses, plan)
    finally:
        analyses.close()  # on Cancel or an error: the worker stops after the frame it is on
