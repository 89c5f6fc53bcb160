"""Overlapping the stages of a batch of frames: frame k+1 is decoded and analysed on a worker thread
while frame k is swapped (onnxruntime and torch release the GIL while they run), and swapped frames
wait in a queue until enough faces are gathered for one batched restorer call."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from .errors import BadInput
from .face import Face

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T]) -> Iterator[T]:
    """Yield the items of a lazy iterable, computing the next one on a worker thread while the caller
    works on the current one. One worker advances the iterable, in order, so a stateful generator
    (a face tracker) sees its frames one by one; its exceptions reach the caller in frame order."""
    iterator = iter(items)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-v3-read-ahead")
    try:
        future = pool.submit(next, iterator, _END)
        while True:
            item = future.result()
            if item is _END:
                return
            future = pool.submit(next, iterator, _END)  # frame k+1 starts before frame k is handed over
            yield item
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class LazyFrames(Sequence):
    """A batch of frames decoded when first asked for (so decoding frame k+1 overlaps the swap of
    frame k), the last few kept so the analysis and the swap of a frame decode it once.

    decode(i) must give an RGB uint8 array of the declared shape (height, width, 3)."""

    def __init__(self, count: int, shape: tuple[int, ...], decode: Callable[[int], np.ndarray], keep: int = 9) -> None:
        """keep: frames kept decoded; two detector batches (job.DETECT_BATCH) and the frame being swapped."""
        self.count, self.shape, self._decode, self._keep = count, tuple(shape), decode, keep
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> np.ndarray:
        if not -self.count <= index < self.count:
            raise IndexError(f"frame {index} of a batch of {self.count}")
        index %= self.count
        with self._lock:
            if index in self._kept:
                return self._kept[index]
        frame = self._decode(index)
        if frame.shape != self.shape:
            raise BadInput(f"frame {index} decoded to shape {frame.shape}, but the batch's first frame is "
                           f"{self.shape}; every frame of a batch must have the same size: resize the frames first")
        with self._lock:
            self._kept[index] = frame
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)
        return frame


def frame_shapes(frames: Sequence[np.ndarray]) -> set[tuple[int, ...]]:
    """The distinct shapes of a batch's frames, without decoding LazyFrames."""
    return {frames.shape} if isinstance(frames, LazyFrames) else {frame.shape for frame in frames}


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
