"""The only place that touches ComfyUI: model folders, progress bars, device and Cancel.

Each function works outside ComfyUI too (tests, CLI), falling back to the pipeline's defaults.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..pipeline.models.store import ModelStore

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
    try:
        import comfy.model_management as mm
        from comfy.utils import ProgressBar
    except ImportError:
        return None
    bar = ProgressBar(total)

    def after_frame(i: int) -> None:
        bar.update_absolute(i + 1, total)
        mm.throw_exception_if_processing_interrupted()

    return after_frame


def torch_device() -> str | None:
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


def poll_progress(deadline_s: float):
    """A callback for each status poll: moves ComfyUI's bar with the time spent."""
    try:
        from comfy.utils import ProgressBar
    except ImportError:
        return None
    steps = max(1, int(deadline_s))
    bar = ProgressBar(steps)

    def on_poll(state: str, elapsed_s: float) -> None:
        log.info("Faceswap V3 API: %s after %.1f s", state, elapsed_s)
        bar.update_absolute(min(steps - 1, int(elapsed_s)), steps)

    return on_poll
