"""Merging the model calls of jobs that run at once (server/batch_merger.py): which calls join, what each
caller gets back, errors, and the counts a worker reports. The first call is held until the others queue, so
what joins is decided, not left to timing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from faceswap_v3.server.batch_merger import BatchMerger


class HeldModel:
    """A model whose first call waits until `queued` batches wait behind it; records every batch it takes."""

    def __init__(self, queued: int) -> None:
        self.queued, self.batches, self.merger = queued, [], None

    def __call__(self, batch: np.ndarray, scale: float = 1.0):
        if not self.batches:
            deadline = time.monotonic() + 10
            while self.merger.waiting < self.queued:
                assert time.monotonic() < deadline, "the other calls never queued"
                time.sleep(0.001)
        self.batches.append(batch.copy())
        return batch * scale, (batch.sum(axis=(1, 2)) * scale,)


def run_together(merger: BatchMerger, calls: list[tuple]) -> list:
    """The first call from one thread; once it runs, the rest from their own threads."""
    with ThreadPoolExecutor(len(calls)) as pool:
        first = pool.submit(merger, *calls[0])
        while not merger.model_is_busy():
            time.sleep(0.001)
        rest = [pool.submit(merger, *args) for args in calls[1:]]
        return [first.result(10)] + [f.result(10) for f in rest]


def make(queued: int, max_items: int = 8) -> tuple[HeldModel, BatchMerger]:
    model = HeldModel(queued)
    model.merger = BatchMerger(model, max_items)
    return model, model.merger


def frames(n: int, value: float, size: int = 4) -> np.ndarray:
    return np.full((n, size, size), value, dtype=np.float32)


def test_batches_that_wait_behind_a_call_are_joined_into_one_call_and_each_caller_gets_its_rows():
    model, merger = make(queued=3)
    calls = [(frames(1, 1),), (frames(2, 2),), (frames(1, 3),), (frames(3, 4),)]
    answers = run_together(merger, calls)
    assert [len(b) for b in model.batches] == [1, 6]          # the first alone, the three waiting as one
    assert (merger.counts.calls, merger.counts.inputs) == (2, 7)
    for (batch,), (scaled, (sums,)) in zip(calls, answers):
        assert scaled.shape == batch.shape and np.array_equal(scaled, batch)
        assert np.array_equal(sums, batch.sum(axis=(1, 2)))


def test_only_batches_with_the_same_item_shape_dtype_and_arguments_join():
    model, merger = make(queued=4)
    calls = [(frames(1, 1),), (frames(1, 2),), (frames(1, 3, size=5),), (frames(1, 4), 2.0), (frames(1, 5),)]
    answers = run_together(merger, calls)
    assert sorted(len(b) for b in model.batches) == [1, 1, 1, 2]
    assert np.array_equal(answers[3][0], frames(1, 8))        # its own argument, in its own call
    assert np.array_equal(answers[2][0], frames(1, 3, size=5))
    assert np.array_equal(answers[4][0], frames(1, 5))


def test_a_join_never_passes_max_items_and_a_larger_batch_runs_alone():
    model, merger = make(queued=4, max_items=4)
    calls = [(frames(1, 1),), (frames(3, 2),), (frames(2, 3),), (frames(6, 4),), (frames(1, 5),)]
    answers = run_together(merger, calls)
    assert all(len(b) <= 4 or len(b) == 6 for b in model.batches)
    assert sorted(len(b) for b in model.batches) == [1, 2, 4, 6]
    assert [a[0][0, 0, 0] for a in answers] == [1, 2, 3, 4, 5]


def test_an_error_in_a_joined_call_is_raised_in_every_caller_of_that_call_and_the_merger_goes_on():
    model, merger = make(queued=2)

    def failing(batch, scale=1.0):
        if len(batch) > 1:
            raise RuntimeError("out of memory")
        return model(batch, scale)

    merger.call = failing
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(merger, frames(1, 1))
        while not merger.model_is_busy():
            time.sleep(0.001)
        joined = [pool.submit(merger, frames(1, v)) for v in (2, 3)]
        assert first.result(10)[0][0, 0, 0] == 1
        for future in joined:
            with pytest.raises(RuntimeError, match="out of memory"):
                future.result(10)
    assert merger(frames(1, 9))[0][0, 0, 0] == 9


def test_calls_from_one_thread_at_a_time_are_never_joined():
    model, merger = make(queued=0)
    for value in range(5):
        merger(frames(1, value))
    assert [len(b) for b in model.batches] == [1] * 5
    assert (merger.counts.calls, merger.counts.inputs) == (5, 5)


def test_many_threads_each_get_exactly_their_own_rows():
    model = lambda batch: batch + 0.5  # noqa: E731
    merger = BatchMerger(model, max_items=5)
    barrier = threading.Barrier(16)

    def one(i: int):
        barrier.wait()
        return merger(frames(1 + i % 3, float(i)))

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    for i, answer in enumerate(answers):
        assert answer.shape == (1 + i % 3, 4, 4) and np.all(answer == i + 0.5)
    assert merger.counts.inputs == sum(1 + i % 3 for i in range(16))
