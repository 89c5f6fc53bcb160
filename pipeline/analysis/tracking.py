"""Following the faces picked in a batch's first frame through the later frames (`track_faces`).

Without tracking every frame is numbered afresh (the API's rule), so when two faces swap places in
the face order, the swapped person changes. A track keeps the person instead: each later frame's
faces are matched to the tracks by box overlap (IoU) with the track's predicted box and by how far
the 5 landmarks moved; a track whose face disappears keeps its predicted motion and takes back the
nearest face inside a gate that widens with every frame it is lost, for up to `max_lost` frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..face import Face
from .selection import Selection

PICKED, FOLLOWED, REACQUIRED, LOST, ENDED, NOT_STARTED = (
    "picked in the first frame", "followed", "re-acquired", "lost", "ended", "not in the first frame")
_INFEASIBLE = 1e6


@dataclass(frozen=True)
class TrackedPick:
    """What track `track` (the k-th requested index) did in one frame.

    face: the face it follows here, or None; number: that face's position in this frame's order;
    lost_for: frames since the track last saw its face (0 when it sees it now)."""

    track: int
    face: Face | None
    state: str
    number: int | None = None
    lost_for: int = 0

    def describe(self, requested: int) -> str:
        head = f"track {self.track} (index {requested} in the first frame)"
        if self.face is not None:
            gap = f" after {self.lost_for} frame(s)" if self.state == REACQUIRED else ""
            return f"{head}: face {self.number}, {self.state}{gap}"
        if self.state == LOST:
            return f"{head}: lost for {self.lost_for} frame(s)"
        return f"{head}: {self.state}"


@dataclass(frozen=True)
class TrackerSettings:
    iou_gate: float = 0.3  # a face overlapping the predicted box this much is the same person...
    landmark_gate: float = 0.35  # ...or one whose landmarks moved less than this many face widths
    reacquire_widening: float = 0.5  # the landmark gate grows by this many face widths per lost frame
    max_size_change: float = 1.6  # per frame, in face width
    max_lost: int = 15  # frames a lost track keeps looking before it ends


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class _Track:
    def __init__(self, face: Face) -> None:
        self.box = np.asarray(face.box, np.float64)
        self.landmarks = np.asarray(face.landmarks, np.float64)
        self.velocity = np.zeros(4)
        self.seen_before = False
        self.lost = 0
        self.ended = False

    def predicted(self) -> tuple[np.ndarray, np.ndarray]:
        """The box and landmarks expected in the next frame, moving on at the last seen speed."""
        box = self.box + self.velocity * (self.lost + 1)
        width = max(1.0, self.box[2] - self.box[0])
        height = max(1.0, self.box[3] - self.box[1])
        scale = np.array([(box[2] - box[0]) / width, (box[3] - box[1]) / height])
        landmarks = (self.landmarks - self.box[:2]) * scale + box[:2]
        return box, landmarks

    def observe(self, face: Face) -> None:
        box = np.asarray(face.box, np.float64)
        step = (box - self.box) / (self.lost + 1)
        self.velocity = (self.velocity + step) / 2 if self.seen_before else step
        self.box, self.landmarks = box, np.asarray(face.landmarks, np.float64)
        self.seen_before, self.lost = True, 0


class FaceTracker:
    """start() with the first frame's picks, then step() with each later frame's candidates, in order."""

    def __init__(self, settings: TrackerSettings = TrackerSettings()) -> None:
        self.settings = settings
        self._tracks: list[_Track | None] = []
        self._started = False

    def follow(self, selection: Selection) -> tuple[Selection, list[TrackedPick]]:
        """The selection with `picked` replaced by the tracked faces (the first frame's picks stay as
        they are), and what every track did; call it on the batch's frames in order."""
        if self._started:
            picks = self.step(selection.candidates)
        else:
            picks = self.start(selection.candidates, selection.picked)
        return replace(selection, picked=tuple(p.face for p in picks)), picks

    def start(self, candidates: Sequence[Face], picked: Sequence[Face | None]) -> list[TrackedPick]:
        self._tracks = [_Track(face) if face is not None else None for face in picked]
        self._started = True
        return [TrackedPick(k, face, PICKED, _position(candidates, face)) if face is not None
                else TrackedPick(k, None, NOT_STARTED) for k, face in enumerate(picked)]

    def _cost(self, track: _Track, face: Face) -> float:
        box, landmarks = track.predicted()
        width = max(1.0, box[2] - box[0])
        size_change = (face.box[2] - face.box[0]) / width
        limit = self.settings.max_size_change ** (track.lost + 1)
        if not 1 / limit <= size_change <= limit:
            return _INFEASIBLE
        overlap = box_iou(box, np.asarray(face.box, np.float64))
        moved = float(np.linalg.norm(np.asarray(face.landmarks) - landmarks, axis=1).mean() / width)
        gate = self.settings.landmark_gate + self.settings.reacquire_widening * track.lost
        if overlap < self.settings.iou_gate and moved > gate:
            return _INFEASIBLE
        return (1.0 - overlap) + moved

    def step(self, candidates: Sequence[Face]) -> list[TrackedPick]:
        from scipy.optimize import linear_sum_assignment

        live = [k for k, t in enumerate(self._tracks) if t is not None and not t.ended]
        costs = np.array([[self._cost(self._tracks[k], face) for face in candidates] for k in live]).reshape(
            len(live), len(candidates))
        rows, cols = linear_sum_assignment(costs) if costs.size else ((), ())
        matched = {live[r]: int(c) for r, c in zip(rows, cols) if costs[r, c] < _INFEASIBLE}
        picks = []
        for k, track in enumerate(self._tracks):
            if track is None:
                picks.append(TrackedPick(k, None, NOT_STARTED))
            elif k in matched:
                face, gap = candidates[matched[k]], track.lost
                track.observe(face)
                picks.append(TrackedPick(k, face, REACQUIRED if gap else FOLLOWED, matched[k], gap))
            elif track.ended:
                picks.append(TrackedPick(k, None, ENDED, lost_for=track.lost))
            else:
                track.lost += 1
                track.ended = track.lost > self.settings.max_lost
                picks.append(TrackedPick(k, None, ENDED if track.ended else LOST, lost_for=track.lost))
        return picks


def _position(candidates: Sequence[Face], face: Face) -> int | None:
    return next((i for i, c in enumerate(candidates) if c is face), None)


def describe_tracks(picks: Sequence[TrackedPick], requested: Sequence[int]) -> str:
    """One line for a frame's info: which face each track swapped, or why it swapped none."""
    return "; ".join(p.describe(r) for p, r in zip(picks, requested))
