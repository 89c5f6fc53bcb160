"""Merging the model calls that several jobs running at once make into fewer, larger calls (dynamic batching,
as inference servers do): no call waits for company; while one runs, the batches that arrive queue, and the
next call takes all of them that can be joined."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(eq=False)
class _Waiting:
    batch: np.ndarray
    args: tuple
    key: tuple
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class MergeCounts:
    calls: int = 0   # calls of the model
    inputs: int = 0  # items they took (frames, faces, crops): inputs / calls is the mean batch
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, items: int) -> None:
        with self.lock:
            self.calls += 1
            self.inputs += items


class BatchMerger:
    """merger(batch, *args) returns what call(batch, *args) returns, for a batch of items along axis 0.

    Batches from other threads with the same item shape, dtype and args are joined along axis 0 into one
    call of at most max_items items (a batch larger than that runs alone), and each caller gets its own rows
    of every output back (an array or tensor, or a tuple/list of them, sliced along axis 0). An error in a
    joined call is raised in every caller of that call."""

    def __init__(self, call: Callable[..., Any], max_items: int, counts: MergeCounts | None = None) -> None:
        self.call, self.max_items = call, max_items
        self.counts = counts if counts is not None else MergeCounts()
        self._queue: list[_Waiting] = []
        self._running = False
        self._changed = threading.Condition()

    def __call__(self, batch: np.ndarray, *args) -> Any:
        mine = _Waiting(batch, args, (batch.shape[1:], batch.dtype.str, args))
        with self._changed:
            self._queue.append(mine)
        while True:
            with self._changed:
                while not mine.done and self._running:
                    self._changed.wait()
                if mine.done:
                    break
                self._running = True
                group = self._take_group()  # the first waiting batch's group: mine, or ahead of mine
            self._run(group)
        if mine.error is not None:
            raise mine.error
        return mine.result

    @property
    def waiting(self) -> int:
        """Batches queued behind the running call."""
        with self._changed:
            return len(self._queue)

    def model_is_busy(self) -> bool:
        with self._changed:
            return self._running

    def _take_group(self) -> list[_Waiting]:
        """The first waiting batch and the later ones that join it, up to max_items (called holding the lock)."""
        first = self._queue[0]
        group, items = [], 0
        for waiting in list(self._queue):
            n = len(waiting.batch)
            if waiting.key == first.key and (not group or items + n <= self.max_items):
                group.append(waiting)
                items += n
                self._queue.remove(waiting)
        return group

    def _run(self, group: list[_Waiting]) -> None:
        try:
            joined = group[0].batch if len(group) == 1 else np.concatenate([w.batch for w in group])
            outputs = self.call(joined, *group[0].args)
            self.counts.add(len(joined))
            start = 0
            for waiting in group:
                stop = start + len(waiting.batch)
                waiting.result = outputs if len(group) == 1 else rows(outputs, start, stop)
                start = stop
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the joined call
            for waiting in group:
                waiting.error = exc
        with self._changed:
            for waiting in group:
                waiting.done = True
            self._running = False
            self._changed.notify_all()


def rows(outputs: Any, start: int, stop: int) -> Any:
    """Rows start:stop (axis 0) of a model's outputs: an array or tensor, or a tuple/list of them."""
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(rows(o, start, stop) for o in outputs)
    return outputs[start:stop]
