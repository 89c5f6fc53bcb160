"""Face analysis of an image: detect, add gender where the filter needs it, select by the API's rules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np

from .detectors import detector_model, load_detector
from ..errors import BadInput
from .genderage import GenderAgeModel
from ..models.cache import model_cache
from ..models.registry import GENDERAGE_FILE
from ..models.store import ModelStore, NeededModel
from ..options import DEFAULTS
from .selection import Selection, parse_indexes, select_faces
from .tracking import FaceTracker, TrackedPick


@dataclass
class AnalysisRequest:
    """What to look for in an image. indexes: faces_index parsed, once, when the request is made
    (FaceswapParams passes the tuple it parsed already)."""

    facedetection: str = DEFAULTS["facedetection"]
    detection_face_order: str = DEFAULTS["detection_face_order"]
    detect_gender: str = "no"
    faces_index: str = "0"
    index_name: str = "faces_index"
    indexes: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.indexes is None:
            self.indexes = tuple(parse_indexes(self.faces_index, self.index_name))


@dataclass
class Analysis:
    """The selection made on one image, its size, and where each model ran."""

    selection: Selection
    image_size: tuple[int, int]
    runs_on: list[str] = field(default_factory=list)
    detected: int = 0  # faces found before the gender filter
    tracks: tuple[TrackedPick, ...] = ()  # with track_faces: what each requested index's track did


def wants_gender(detect_gender: str, with_gender: bool = False) -> bool:
    """Whether analysis runs the gender/age model (on images with faces): for a gender filter, or when asked."""
    return with_gender or detect_gender != "no"


def analysis_models(facedetection: str, detect_gender: str = "no", with_gender: bool = False) -> list[NeededModel]:
    """The model files analysing an image loads: the detector, and the gender/age model where wants_gender."""
    wanted = [detector_model(facedetection)]
    if wants_gender(detect_gender, with_gender):
        wanted.append(NeededModel(GENDERAGE_FILE))
    return wanted


def genderage_model(store: ModelStore) -> GenderAgeModel:
    path = store.path(GENDERAGE_FILE)
    return model_cache().get("genderage", path, None, lambda: GenderAgeModel(path))


def analyze_image(rgb: np.ndarray, request: AnalysisRequest, store: ModelStore,
                  device: str | None = None, with_gender: bool = False) -> Analysis:
    """Detect faces in one RGB uint8 image and apply the API's order, gender filter and indexes.

    with_gender: estimate gender and age even when the filter does not ask for it.
    """
    _check_rgb(rgb)
    detector = load_detector(request.facedetection, store, device)
    return _analysis(rgb, detector.detect(rgb), f"{detector.name}: {detector.runs_on}", request, store, with_gender)


def analyze_frames(frames: Iterable[np.ndarray], request: AnalysisRequest, store: ModelStore,
                   device: str | None = None, batch: int = 1) -> Iterator[Analysis]:
    """analyze_image on each frame, lazily; with batch > 1 and a detector that takes batches (the torch
    ones), frames are detected batch at a time in one network call (on a GPU)."""
    detector = load_detector(request.facedetection, store, device)
    runs_on = f"{detector.name}: {detector.runs_on}"
    batch = batch if hasattr(detector, "detect_batch") else 1
    waiting: list[np.ndarray] = []
    for rgb in frames:
        waiting.append(_check_rgb(rgb))
        if len(waiting) == batch:
            yield from _analyses(waiting, detector, runs_on, request, store)
            waiting = []
    if waiting:
        yield from _analyses(waiting, detector, runs_on, request, store)


def _analyses(frames: list[np.ndarray], detector, runs_on: str, request: AnalysisRequest,
              store: ModelStore) -> Iterator[Analysis]:
    found = detector.detect_batch(frames) if len(frames) > 1 else [detector.detect(frames[0])]
    for rgb, faces in zip(frames, found):
        yield _analysis(rgb, faces, runs_on, request, store)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise BadInput(f"expected an RGB uint8 image of shape (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return rgb


def _analysis(rgb: np.ndarray, faces: list, detector_runs_on: str, request: AnalysisRequest, store: ModelStore,
              with_gender: bool = False) -> Analysis:
    """Gender where asked, then the API's order, gender filter and indexes."""
    runs_on = [detector_runs_on]
    if faces and wants_gender(request.detect_gender, with_gender):
        model = genderage_model(store)
        faces = model.annotate(rgb, faces)
        runs_on.append(f"genderage: {model.runs_on}")
    selection = select_faces(faces, request.detection_face_order, request.detect_gender, list(request.indexes))
    return Analysis(selection=selection, image_size=(rgb.shape[1], rgb.shape[0]), runs_on=runs_on,
                    detected=len(faces))


@dataclass
class FaceSet:
    """The result of analysing a batch of frames: one Analysis per frame, and the pixels of the FIRST
    frame only (source identities are read from it without wiring the image again; a batch of video
    frames is not copied)."""

    request: AnalysisRequest
    first_frame: np.ndarray
    analyses: list[Analysis]

    def summary(self) -> str:
        counts = ", ".join(str(a.selection.available) for a in self.analyses[:16])
        more = " ..." if len(self.analyses) > 16 else ""
        runs_on = self.analyses[0].runs_on if self.analyses else []
        return f"faces per frame: {counts}{more}; {'; '.join(runs_on)}"


def analyze_batch(frames: list[np.ndarray], request: AnalysisRequest, store: ModelStore,
                  device: str | None = None, with_gender: bool = False, after_frame=None) -> FaceSet:
    """analyze_image on every frame; after_frame(i) runs after each (progress, cancellation)."""
    if not frames:
        raise BadInput("the image batch is empty: no frame to look for faces in")
    analyses = []
    for i, rgb in enumerate(frames):
        analyses.append(analyze_image(rgb, request, store, device, with_gender))
        if after_frame:
            after_frame(i)
    return FaceSet(request=request, first_frame=frames[0], analyses=analyses)


def track_analyses(analyses: Iterable[Analysis]) -> Iterator[Analysis]:
    """track_faces: each frame picks the faces followed from the first frame's picks (tracking.py)
    instead of numbering its faces afresh. Lazy, so frames can be analysed as they come."""
    tracker = FaceTracker()
    for analysis in analyses:
        selection, picks = tracker.follow(analysis.selection)
        yield replace(analysis, selection=selection, tracks=tuple(picks))
