"""Reference mode: pick target faces by identity (closeness to a reference face) instead of by index."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .analyze import Analysis, AnalysisRequest, analyze_image
from ..errors import BadInput
from ..face import Face
from .face_model import FaceModel
from ..options import DEFAULTS, FACE_SELECTORS, check_choice
from .selection import Selection, require_all

if TYPE_CHECKING:  # the models facade is above the stages: annotations only
    from ..swap_models import SwapModels

log = logging.getLogger("faceswap_v3")


@dataclass(frozen=True)
class Reference:
    """label: the number this reference pairs by (the reference image's face index; 0 for a face model).
    embedding: its normed ArcFace embedding."""

    label: int
    embedding: np.ndarray


def check_reference_distance(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
        raise BadInput(f"reference_distance must be a number from 0 to 2 (cosine distance: 0 = identical, "
                       f"2 = opposite), got {value!r}")
    return float(value)


def select_by_reference(candidates: Sequence[Face], embeddings: Sequence[np.ndarray],
                        references: Sequence[Reference], max_distance: float) -> Selection:
    """Each candidate whose cosine distance to its nearest reference is at most max_distance, grouped by
    reference in reference order (candidate order inside a group). labels holds each picked face's
    reference label; a reference nothing matches appears once with None, so it is reported as missing."""
    refs = np.stack([r.embedding for r in references]).astype(np.float32)
    faces = np.stack(embeddings).astype(np.float32) if len(candidates) else np.zeros((0, refs.shape[1]), np.float32)
    distances = 1.0 - faces @ refs.T  # [candidates, references]
    nearest = distances.argmin(axis=1)
    labels, picked, unmatched = [], [], []
    for k, reference in enumerate(references):
        matches = [c for c in range(len(candidates)) if nearest[c] == k and distances[c, k] <= max_distance]
        if matches:
            labels += [reference.label] * len(matches)
            picked += [candidates[c] for c in matches]
        else:
            labels.append(reference.label)
            picked.append(None)
            if len(candidates):
                unmatched.append(f"{reference.label} (closest {distances[:, k].min():.2f})")
    reason = None
    if not len(candidates):
        reason = "target has no face after filtering"
    elif unmatched:
        reason = f"no face within reference_distance {max_distance:g} of reference face {', '.join(unmatched)}"
    return Selection(candidates=tuple(candidates), labels=tuple(labels), picked=tuple(picked),
                     missing_reason=reason)


@dataclass(frozen=True)
class ReferenceSelector:
    """Reference mode's settings: the references and how close a face must be to count as one."""

    references: tuple[Reference, ...]
    max_distance: float = DEFAULTS["reference_distance"]

    @property
    def labels(self) -> list[int]:
        """The reference labels in order: what pairs with source_faces_index."""
        return [r.label for r in self.references]

    def apply(self, rgb: np.ndarray, analysis: Analysis, models: SwapModels) -> Analysis:
        """analysis with its selection redone by identity over the same candidates (order and gender filter kept)."""
        recognizer = models.recognizer()
        candidates = analysis.selection.candidates
        embeddings = [recognizer.embed(rgb, face) for face in candidates]
        selection = select_by_reference(candidates, embeddings, self.references, self.max_distance)
        return replace(analysis, selection=selection, runs_on=[*analysis.runs_on, f"recognizer: {recognizer.runs_on}"])


def references_from_image(rgb: np.ndarray, request: AnalysisRequest, models: SwapModels) -> tuple[Reference, ...]:
    """The reference image's faces picked by request (its order, gender filter and indexes), embedded."""
    analysis = analyze_image(rgb, request, models.store, models.device)
    if analysis.detected == 0:
        raise BadInput("no face found in the reference image; use a frame or photo where the person to "
                       "select is clearly visible")
    faces = require_all(analysis.selection, "reference image", request.index_name)
    recognizer = models.recognizer()
    return tuple(Reference(index, recognizer.embed(rgb, face))
                 for index, face in zip(analysis.selection.labels, faces))


def reference_selector(face_selector: str, reference_distance: float, reference_rgb: np.ndarray | None,
                       reference_model: FaceModel | None, request: AnalysisRequest,
                       models: SwapModels) -> ReferenceSelector | None:
    """The ReferenceSelector the widgets ask for, or None in index mode (the API's behaviour)."""
    check_choice("face_selector", face_selector, FACE_SELECTORS)
    distance = check_reference_distance(reference_distance)
    if face_selector == "index":
        if reference_rgb is not None or reference_model is not None:
            log.warning("a reference is connected but face_selector is index: faces are picked by index; "
                        "set face_selector to reference to pick them by identity")
        return None
    if reference_rgb is not None and reference_model is not None:
        raise BadInput("face_selector is reference: connect reference_image or reference_face_model, not both")
    if reference_model is not None:
        return ReferenceSelector((Reference(0, reference_model.embedding),), distance)
    if reference_rgb is None:
        raise BadInput("face_selector is reference but no reference is connected: connect reference_image "
                       "(its face picked by the faces index) or reference_face_model")
    return ReferenceSelector(references_from_image(reference_rgb, request, models), distance)
