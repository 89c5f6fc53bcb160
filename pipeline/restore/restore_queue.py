"""Swapped frames waiting in order until enough faces are gathered for one batched restorer call."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import BadInput
from ..face import Face

# (frames, faces per frame, per frame (keep, coverage) masks for the paste-back or None) -> restored frames
# ... and on_face(k) after each face of the k-th given frame is restored (progress)
RestoreFrames = Callable[[list[np.ndarray], list[list[Face]], list[tuple] | None, Callable[[int], None] | None],
                         list[np.ndarray]]


class RestoreQueue:
    """Swapped frames, in order, waiting for a restorer call that takes up to batch_faces faces.

    push() a frame with the faces to restore in it (none: it passes, in order); it returns the frames
    that are finished, with their indexes. A frame's faces are never split between two restore
    calls (unless they alone are more than batch_faces). flush() restores whatever is left."""

    def __init__(self, restore: RestoreFrames | None, batch_faces: int = 1,
                 on_face_restored: Callable[[int], None] | None = None) -> None:
        """on_face_restored(index): after each face of the frame pushed as index is restored."""
        if batch_faces < 1:
            raise BadInput(f"batch_faces must be a whole number of at least 1, got {batch_faces}")
        self.restore, self.batch_faces, self.on_face_restored = restore, batch_faces, on_face_restored
        self._waiting: list[tuple[int, np.ndarray, list[Face], tuple]] = []

    def push(self, index: int, frame: np.ndarray, faces: list[Face],
             masks: tuple = (None, None)) -> list[tuple[int, np.ndarray]]:
        """masks: the frame's (keep, coverage) for the restorer's paste-back (see paste.paste_crop)."""
        faces = faces if self.restore is not None else []
        done = self.flush() if self._faces() and self._faces() + len(faces) > self.batch_faces else []
        self._waiting.append((index, frame, faces, masks))
        if self._faces() >= self.batch_faces or not self._faces():
            done += self.flush()
        return done

    def _faces(self) -> int:
        return sum(len(faces) for _, _, faces, _ in self._waiting)

    def flush(self) -> list[tuple[int, np.ndarray]]:
        waiting, self._waiting = self._waiting, []
        with_faces = [(index, frame, faces, masks) for index, frame, faces, masks in waiting if faces]
        indexes = [w[0] for w in with_faces]
        on_face = (lambda k: self.on_face_restored(indexes[k])) if self.on_face_restored else None
        restored = iter(self.restore([w[1] for w in with_faces], [w[2] for w in with_faces],
                                     [w[3] for w in with_faces], on_face) if with_faces else [])
        return [(index, next(restored) if faces else frame) for index, frame, faces, _ in waiting]
