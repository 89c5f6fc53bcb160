"""Our models under ComfyUI's memory management (imported only inside ComfyUI).

Each model (torch restorers and detectors, onnxruntime sessions) is registered with
comfy.model_management through a ModelPatcher, like ComfyUI's own models: loaded to the device for
each use and listed among the loaded models. When ComfyUI unloads one (room for another model,
"Unload models", POST /free) the model is dropped whole and its memory goes back to the system;
the next use loads it from disk again.
"""

from __future__ import annotations

import ctypes
import inspect
import threading
import logging
from pathlib import Path
from typing import Callable, TypeVar

import psutil
import torch
from comfy import model_management
from comfy.model_patcher import ModelPatcher

log = logging.getLogger("faceswap_v3")
T = TypeVar("T")
# Older ComfyUI releases lack force_full_load; there a model loads whole when it fits, as ours do.
_FULL_LOAD = {"force_full_load": True} if "force_full_load" in inspect.signature(
    model_management.load_models_gpu).parameters else {}


class FaceswapV3Weights(torch.nn.Module):
    """What ComfyUI sees of one of our models: its torch module as the only child (none for an
    onnxruntime session, whose size is given instead)."""


class _DropOnUnloadPatcher(ModelPatcher):
    """All or nothing: never partially offloaded (our networks run on one device); unloading
    forgets the model."""

    def __init__(self, weights: FaceswapV3Weights, device, size: int, on_unload: Callable[[], None]):
        super().__init__(weights, load_device=device, offload_device=torch.device("cpu"), size=size)
        self._on_unload = on_unload

    def partially_unload(self, device_to, memory_to_free=0):
        return 0

    def detach(self, unpatch_all=True):
        if unpatch_all:  # a real unload; unpatch_all=False is ComfyUI re-seating a model it keeps
            self.model._modules.clear()
            self._on_unload()
        return super().detach(unpatch_all)


class ComfyModelCache:
    """pipeline.model_cache's interface, backed by comfy.model_management."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], tuple[object, ModelPatcher]] = {}
        # Unloaded patchers (now empty) outlive ComfyUI's unload loop, which breaks if one vanishes mid-loop.
        self._unloaded: list[ModelPatcher] = []
        # A job's read-ahead thread and ComfyUI's execution thread ask at once. The table lock is held only
        # to read or change the tables; each model builds under its own lock, so a second caller for it
        # waits while a caller for another model (a detector beside a swapper) goes ahead. ComfyUI's own
        # loading (load_models_gpu, which may unload and so call _forget) runs outside both.
        self._lock = threading.RLock()
        self._building: dict[tuple[str, str, str], threading.Lock] = {}
        self._held: dict[tuple[str, str, str], tuple[int, str]] = {}  # bytes measured at build, where

    def held(self) -> list[tuple[str, str, int, str]]:
        """(kind, file name, bytes, where) of every model loaded now: what each holds, measured as it was
        built (onnxruntime sessions are invisible to ComfyUI's own accounting, torch's dynamic VRAM included)."""
        with self._lock:
            return [(key[0], Path(key[1]).name, size, where) for key, (size, where) in self._held.items()
                    if key in self._entries]

    def get(self, kind: str, path: Path, device: str | None, build: Callable[[], T]) -> T:
        key = (kind, str(path), device or "")
        with self._lock:
            self._unloaded.clear()
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                entry = self._entries.get(key)
            if entry is None:
                model, held = _build_measured(build)
                patcher = self._patcher(key, model, Path(path), held)
                with self._lock:
                    entry = self._entries[key] = (model, patcher)
        model_management.load_models_gpu([entry[1]], **_FULL_LOAD)
        return entry[0]

    def _patcher(self, key: tuple[str, str, str], model, path: Path, held: dict[str, int]) -> ModelPatcher:
        weights = FaceswapV3Weights()
        module = getattr(model, "torch_module", None)
        if module is not None:
            weights.add_module("model", module)
            device = next(module.parameters()).device
            size = 0  # ComfyUI measures the module
            tensors = [*module.parameters(), *module.buffers()]
            held_here = (sum(t.numel() * t.element_size() for t in tensors), f"torch {device.type}")
        else:
            from ...pipeline.runtime.names import on_cpu as on_cpu_runtime  # here: tests load this file alone

            device = model_management.get_torch_device()
            on_cpu = on_cpu_runtime(getattr(model, "runs_on", ""))
            # what ComfyUI must keep free on the device for the session: measured, at least the file's weights
            size = 0 if on_cpu else max(held["device"], path.stat().st_size)
            held_here = (held["host"], "onnxruntime CPU") if on_cpu else (size, "onnxruntime GPU")
        with self._lock:
            self._held[key] = held_here
        return _DropOnUnloadPatcher(weights, device, size, lambda: self._forget(key))

    def _forget(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            self._held.pop(key, None)
            if entry is None:
                return
            self._unloaded.append(entry[1])
        del entry  # the model's last reference: its memory is freed here, before the trim
        log.info("Faceswap V3: unloaded %s (%s)", key[0], Path(key[1]).name)
        _return_freed_memory_to_system()


def _build_measured(build: Callable[[], T]) -> tuple[T, dict[str, int]]:
    """The model, and how much host and device memory building it took (the process's resident size and
    the device's free memory before and after: other threads' allocations in between count too, so it is
    an estimate)."""
    process = psutil.Process()
    cuda = torch.cuda.is_available()
    host, device = process.memory_info().rss, torch.cuda.mem_get_info()[0] if cuda else 0
    model = build()
    host_after, device_after = process.memory_info().rss, torch.cuda.mem_get_info()[0] if cuda else 0
    return model, {"host": max(host_after - host, 0), "device": max(device - device_after, 0)}


def _return_freed_memory_to_system() -> None:
    """glibc keeps freed heap pages for reuse; hand them back so the process really shrinks."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
