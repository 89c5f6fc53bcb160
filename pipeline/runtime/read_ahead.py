"""Overlapping the stages of a batch of frames: frame k+1 is decoded and analysed on a worker thread
while frame k is swapped (onnxruntime and torch release the GIL while they run); frames decoded when first
asked for."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from ..errors import BadInput

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
