"""One swap, decided before its first frame: which source identity each picked target face gets, with which
models, masks and restorer, and whom to tell about progress. run_faceswap (job.py) and the Swap Faces node
build one; swap_frames carries it from the first frame to the last paste."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .swap_models import SwapModels
from .restore.restore_queue import RestoreFrames
from .analysis.selection import pair_indexes
from .swap.frame_swap import SwapOptions


@dataclass(frozen=True)
class Progress:
    """after_frame(i): after each frame. on_step(frame, done, total): inside a frame, one step per face swapped
    and one per face restored (called with done=0 first)."""

    after_frame: Callable[[int], None] | None = None
    on_step: Callable[[int, int, int], None] | None = None


@dataclass(frozen=True)
class SwapPlan:
    """models: where every model comes from. embeddings: the source identity per source index.
    source_indexes / target_indexes: the API's indexes, paired in order (target_indexes are what the
    selections' labels are: target face indexes, or reference labels in reference mode). options: pixel boost
    and face masks. restore: the restore step (None: off), restore_batch faces per call. mask: the user's
    (H, W) or (B, H, W) 0..1 mask, 0 = never change. measure_similarity: embed every swapped face (one
    recognizer call each). index_name: the parameter or widget that picked the target faces, for warnings.
    paste_masks: keep each frame's paste mask (FaceswapResult.masks); False keeps none (nobody reads them)."""

    models: SwapModels
    embeddings: dict[int, np.ndarray]
    source_indexes: list[int]
    target_indexes: list[int]
    options: SwapOptions = field(default_factory=SwapOptions)
    restore: RestoreFrames | None = None
    restore_batch: int = 1
    mask: np.ndarray | None = None
    measure_similarity: bool = False
    index_name: str = "input_faces_index"
    progress: Progress = field(default_factory=Progress)
    paste_masks: bool = True

    def source_of(self) -> dict[int, int]:
        """The source index each target label gets."""
        return {target: source for source, target in pair_indexes(self.source_indexes, self.target_indexes)}
