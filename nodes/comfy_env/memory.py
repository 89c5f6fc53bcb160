"""Handing our models to ComfyUI's memory management (comfy_models.py) when it is there."""

from __future__ import annotations

import logging

log = logging.getLogger("faceswap_v3")


def use_comfy_model_management() -> None:
    """Inside ComfyUI, let its memory management load and free our models (see comfy_models.py)."""
    try:
        import comfy.model_management  # noqa: F401 - present only inside ComfyUI
    except ImportError:
        return
    from ...pipeline.models.cache import use_model_cache

    try:
        from .comfy_models import ComfyModelCache
    except ImportError as exc:  # a ComfyUI too old for its ModelPatcher: keep our own cache
        log.warning("Faceswap V3: ComfyUI's model management is unavailable (%s); models stay loaded", exc)
        return
    use_model_cache(ComfyModelCache())


def held_models() -> str:
    """One line for a node's info output: each of our models loaded now and the memory it holds ("" when
    ComfyUI's model management is not in use)."""
    from ...pipeline.models.cache import model_cache

    held = getattr(model_cache(), "held", None)
    if held is None:
        return ""
    models = sorted(held(), key=lambda model: -model[2])
    return "models in memory: " + (", ".join(f"{name} ({kind}, {where}) {size / 2**20:.0f} MiB"
                                             for kind, name, size, where in models) or "none")
