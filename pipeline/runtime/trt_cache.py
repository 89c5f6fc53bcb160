"""TensorRT's engine cache, next to the models: one folder per GPU model and TensorRT version (an engine built
for another GPU is never read), and an unreadable engine deleted and rebuilt instead of failing the load."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Callable, TypeVar

CACHE_FOLDER = ".tensorrt_engines"
log = logging.getLogger("faceswap_v3.runtime")
T = TypeVar("T")


def gpu_tag(index: int = 0) -> str:
    """e.g. "NVIDIA_GeForce_RTX_4090-sm89-trt10.9": what an engine is only valid for."""
    parts = []
    try:
        import torch

        props = torch.cuda.get_device_properties(index)
        parts += [props.name, f"sm{props.major}{props.minor}"]
    except Exception:  # noqa: BLE001 - no CUDA torch: the folder still separates TensorRT versions
        parts.append("gpu")
    try:
        import tensorrt

        parts.append(f"trt{tensorrt.__version__}")
    except ImportError:
        pass
    return re.sub(r"[^A-Za-z0-9.]+", "_", "-".join(parts))


def engine_cache_dir(model_path: Path, index: int = 0, tag: str | None = None) -> Path:
    """<the model's folder>/.tensorrt_engines/<gpu tag>, created."""
    folder = Path(model_path).parent / CACHE_FOLDER / (tag or gpu_tag(index))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached_engines(folder: Path, prefix: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{prefix}*") if p.is_file())


def open_with_engine_cache(open_session: Callable[[], T], folder: Path, prefix: str, name: str) -> T:
    """open_session() (which builds or reads the engines with this prefix in folder). When it fails with
    engines cached, they are deleted and it runs once more (a rebuild); a first build's time is logged once."""
    had_engine = bool(cached_engines(folder, prefix))
    start = time.monotonic()
    try:
        session = open_session()
    except Exception as exc:  # noqa: BLE001 - TensorRT reports an unreadable engine as a generic failure
        if not had_engine:
            raise
        stale = cached_engines(folder, prefix)
        for path in stale:
            path.unlink(missing_ok=True)
        log.warning("the TensorRT engine cached for %s could not be used (%s); deleted %d file(s) from %s, "
                    "building it again", name, str(exc).splitlines()[0][:200], len(stale), folder)
        had_engine = False
        start = time.monotonic()
        session = open_session()
    if not had_engine and cached_engines(folder, prefix):
        log.warning("built the TensorRT engine for %s in %.0f s (first run on this GPU; cached in %s)",
                    name, time.monotonic() - start, folder)
    return session
