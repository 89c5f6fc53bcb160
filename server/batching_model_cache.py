"""A cluster worker's model cache when it runs several jobs at once: each model built once for the process,
and the calls those jobs make at the same time to a model that takes a batch merged into one call
(batch_merger): the torch detectors (frames of one size), a batched SCRFD, the ArcFace recognizer, and the
restorer where it takes a batch (on a GPU). The swapper's batch is fixed at one face, so its calls are not."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from ..pipeline.analysis.detectors.common import TorchDetector
from ..pipeline.models.cache import ProcessModelCache
from ..pipeline.runtime.onnx_session import fixed_dims
from ..pipeline.analysis.recognition import Recognizer
from ..pipeline.restore.restorer import Restorer
from .batch_merger import BatchMerger, MergeCounts

T = TypeVar("T")


class MergedSession:
    """An onnxruntime session whose one-input runs from several threads are merged along the batch axis."""

    def __init__(self, session, max_items: int, counts: MergeCounts) -> None:
        self._session = session
        self.merger = BatchMerger(self._run_joined, max_items, counts)

    def run(self, output_names, feed: dict, run_options=None):
        if len(feed) != 1 or run_options is not None:
            return self._session.run(output_names, feed, run_options)
        (name, batch), = feed.items()
        return self.merger(np.asarray(batch), name, tuple(output_names or ()))

    def _run_joined(self, batch: np.ndarray, name: str, output_names: tuple[str, ...]):
        return self._session.run(list(output_names) or None, {name: batch})

    def __getattr__(self, attr: str):
        return getattr(self._session, attr)


def batch_axis_is_free(session) -> bool:
    """Whether every input and output of the session has a batch axis of any size."""
    return all(len(a.shape) > 1 and fixed_dims(a.shape)[0] is None
               for a in (*session.get_inputs(), *session.get_outputs()))


def takes_onnx_batches(model) -> bool:
    """An insightface-run recognizer or SCRFD whose graph takes a batch of any size (an SCRFD graph without
    a batch axis on its outputs, as buffalo_l's det_10g, runs one image a call)."""
    from ..pipeline.analysis.detectors.scrfd import SCRFDDetector

    return ((isinstance(model, Recognizer) or (isinstance(model, SCRFDDetector) and model.model.batched))
            and batch_axis_is_free(model.model.session))


class BatchingModelCache:
    """counts: the merged calls of every model and the items they took."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.counts = MergeCounts()
        self._models = ProcessModelCache()

    def get(self, kind: str, path: Path, device: str | None, build: Callable[[], T]) -> T:
        return self._models.get(kind, path, device, lambda: self.merge_calls(build()))

    def merge_calls(self, model: T) -> T:
        """Route the model's batch call through a BatchMerger, where it has one."""
        if isinstance(model, TorchDetector):
            model.run_net = BatchMerger(model.run_net, self.max_items, self.counts)
        elif isinstance(model, Restorer) and model.batch_size > 1:
            model.restore_on_device = BatchMerger(model.restore_on_device, min(self.max_items, model.batch_size),
                                                  self.counts)
        elif takes_onnx_batches(model):
            model.model.session = MergedSession(model.model.session, self.max_items, self.counts)
        return model
