"""ComfyUI's progress bar for a batch of frames (each step inside a frame) and for hosted jobs; Cancel is
honoured at each step."""

from __future__ import annotations

import logging

from ...pipeline.job_contract import COMPLETED, PROCESSING, QUEUED

log = logging.getLogger("faceswap_v3")


def frame_progress(total: int):
    """A callback for after each frame: advances ComfyUI's bar and honours Cancel."""
    after_frame, _ = step_progress(total)
    return after_frame


STEP_UNITS = 100  # bar units per frame, shared out among the frame's steps


def step_progress(frames: int):
    """(after_frame(i), on_step(frame, done, steps)) for a batch: ComfyUI's bar moves after every
    step inside a frame (each face swapped, each face restored) and Cancel is honoured at each."""
    try:
        import comfy.model_management as mm
        from comfy.utils import ProgressBar
    except ImportError:
        return None, None
    total = max(1, frames) * STEP_UNITS
    bar = ProgressBar(total)
    shown = {"value": 0}

    def on_step(frame: int, done: int, steps: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        value = frame * STEP_UNITS + (done * STEP_UNITS // steps if steps else 0)
        # Newer cores send a bar's first update at once and later ones at most every 100 ms: a first
        # update at 0 would swallow the first face's step.
        if value > shown["value"]:
            shown["value"] = value
            bar.update_absolute(value, total)

    def after_frame(i: int) -> None:
        shown["value"] = (i + 1) * STEP_UNITS
        bar.update_absolute(shown["value"], total)
        mm.throw_exception_if_processing_interrupted()

    return after_frame, on_step


JOB_STEPS = {QUEUED: 1, PROCESSING: 2, COMPLETED: 3}  # a hosted job's progress, in thirds


def job_progress(frames: int):
    """(on_poll(state, elapsed_s), after_frame(i)) for remote jobs, one per frame: ComfyUI's bar
    follows each job's state (queued, processing, completed), not the clock."""
    try:
        from comfy.utils import ProgressBar
    except ImportError:
        return None, None
    steps = len(JOB_STEPS)
    total = max(1, frames) * steps
    bar = ProgressBar(total)
    frame = {"index": 0}

    def on_poll(state: str, elapsed_s: float) -> None:
        log.info("Faceswap V3 API: %s after %.1f s", state, elapsed_s)
        if state in JOB_STEPS:
            bar.update_absolute(frame["index"] * steps + JOB_STEPS[state], total)

    def after_frame(i: int) -> None:
        frame["index"] = i + 1
        bar.update_absolute((i + 1) * steps, total)

    return on_poll, after_frame
