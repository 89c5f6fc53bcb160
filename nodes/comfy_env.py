"""The only place that touches ComfyUI: model folders, progress bars, device, Cancel, warnings on screen
and handing our models to its memory management (comfy_models.py).

Each function works outside ComfyUI too (tests, CLI), falling back to the pipeline's defaults.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..pipeline.models.store import ModelStore
from ..pipeline.run_report import cpu_fallback_warning, run_info
from ..pipeline.similarity import describe_similarities

log = logging.getLogger("faceswap_v3")
MODEL_FOLDERS = ("facedetection", "facerestore_models", "insightface", "reswapper", "hyperswap", "face_parsing",
                 "reactor", "reactor/faces")


def _folder_paths():
    try:
        import folder_paths  # ComfyUI's module

        return folder_paths
    except ImportError:
        return None


def register_model_folders() -> None:
    """Make MODEL_FOLDERS (facedetection/, facerestore_models/, insightface/, ReActor's reswapper/ and
    hyperswap/, face_parsing/ for the mask models, ReActor's reactor/faces/ for face models) known to ComfyUI
    (extra_model_paths.yaml too)."""
    fp = _folder_paths()
    if fp is None:
        return
    for name in MODEL_FOLDERS:
        fp.add_model_folder_path(name, str(Path(fp.models_dir) / name))


def use_comfy_model_management() -> None:
    """Inside ComfyUI, let its memory management load and free our models (see comfy_models.py)."""
    try:
        import comfy.model_management  # noqa: F401 - present only inside ComfyUI
    except ImportError:
        return
    from ..pipeline.models.cache import use_model_cache

    try:
        from .comfy_models import ComfyModelCache
    except ImportError as exc:  # a ComfyUI too old for its ModelPatcher: keep our own cache
        log.warning("Faceswap V3: ComfyUI's model management is unavailable (%s); models stay loaded", exc)
        return
    use_model_cache(ComfyModelCache())


def model_store() -> ModelStore:
    fp = _folder_paths()
    first = {}
    if fp is not None:
        for name in MODEL_FOLDERS:
            try:
                first[name] = [Path(p) for p in fp.get_folder_paths(name)]
            except KeyError:
                first[name] = [Path(fp.models_dir) / name]
    return ModelStore(first_dirs=first, progress_for=_progress_for)


def _progress_for(name: str):
    try:
        from comfy.utils import ProgressBar
    except ImportError:
        return None
    bar: dict = {}

    def report(done: int, total: int | None) -> None:
        if done == 0:
            log.info("downloading %s", name)
        if total:
            bar.setdefault("bar", ProgressBar(total)).update_absolute(done, total)

    return report


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

    def on_step(frame: int, done: int, steps: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        bar.update_absolute(frame * STEP_UNITS + (done * STEP_UNITS // steps if steps else 0), total)

    def after_frame(i: int) -> None:
        bar.update_absolute((i + 1) * STEP_UNITS, total)
        mm.throw_exception_if_processing_interrupted()

    return after_frame, on_step


def model_device() -> str | None:
    """The device ComfyUI runs models on ("cuda:0", "cpu"), or None outside ComfyUI (pipeline.devices decides)."""
    try:
        import comfy.model_management as mm
    except ImportError:
        return None
    return str(mm.get_torch_device())


def input_directory() -> Path | None:
    fp = _folder_paths()
    return Path(fp.get_input_directory()) if fp is not None else None


def annotated_input_path(name: str) -> Path | None:
    fp = _folder_paths()
    return Path(fp.get_annotated_filepath(name)) if fp is not None else None


def raise_if_interrupted() -> None:
    try:
        import comfy.model_management as mm
    except ImportError:
        return
    mm.throw_exception_if_processing_interrupted()


def cancel_requested() -> bool:
    try:
        import comfy.model_management as mm
    except ImportError:
        return False
    return bool(mm.processing_interrupted())


JOB_STATES = {"QUEUED": 1, "PROCESSING": 2, "COMPLETED": 3}  # a hosted job's progress, in thirds


def job_progress(frames: int):
    """(on_poll(state, elapsed_s), after_frame(i)) for remote jobs, one per frame: ComfyUI's bar
    follows each job's state (queued, processing, completed), not the clock."""
    try:
        from comfy.utils import ProgressBar
    except ImportError:
        return None, None
    steps = len(JOB_STATES)
    total = max(1, frames) * steps
    bar = ProgressBar(total)
    frame = {"index": 0}

    def on_poll(state: str, elapsed_s: float) -> None:
        log.info("Faceswap V3 API: %s after %.1f s", state, elapsed_s)
        if state in JOB_STATES:
            bar.update_absolute(frame["index"] * steps + JOB_STATES[state], total)

    def after_frame(i: int) -> None:
        frame["index"] = i + 1
        bar.update_absolute((i + 1) * steps, total)

    return on_poll, after_frame


WARNING_EVENT = "faceswap_v3.warning"  # shown as a toast by web/faceswap_v3_toasts.js


def warn(message: str) -> None:
    """Log a warning and, inside ComfyUI, show it on screen to the user who queued the prompt."""
    log.warning("Faceswap V3: %s", message)
    toast(message)


MAX_TOASTS = 3  # per node run; a batch of frames without faces must not bury the screen


def toast(message: str) -> None:
    """Show a warning on screen (the web page's toast) to the user who queued the prompt."""
    server = getattr(getattr(sys.modules.get("server"), "PromptServer", None), "instance", None)
    if server is None:
        return
    node = None
    try:
        from comfy_execution.utils import get_executing_context

        context = get_executing_context()
        node = context.node_id if context is not None else None
    except ImportError:
        pass
    server.send_sync(WARNING_EVENT, {"message": message, "node": node}, server.client_id)


def show_warnings(messages: list[str]) -> None:
    """Toasts for warnings the pipeline has already logged (the first few, then a count)."""
    for message in messages[:MAX_TOASTS]:
        toast(message)
    if len(messages) > MAX_TOASTS:
        toast(f"... and {len(messages) - MAX_TOASTS} more warnings: see the node's info output")


def report_run(result) -> str:
    """Show a swap's warnings (and a CPU fallback on a GPU machine); return the info output's text."""
    warnings = list(result.warnings)
    cpu = cpu_fallback_warning(result.runs_on, gpu_present())
    if cpu:
        log.warning("Faceswap V3: %s", cpu)
        warnings.append(cpu)
    show_warnings(warnings)
    details = ([describe_similarities(result.face_similarities)] if result.face_similarities else []) + result.tracks
    info = run_info(result.faces_swapped, result.runs_on, warnings, details)
    log.info("Faceswap V3: %s", info.replace("\n", "; "))
    return info


def gpu_present() -> bool:
    """Whether a GPU is there to use: ComfyUI's device (not --cpu), else torch's view."""
    device = model_device()
    if device is not None:
        return not device.startswith("cpu")
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()
