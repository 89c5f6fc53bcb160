"""ComfyUI's Cancel button: raise where it was pressed, or ask whether it was."""

from __future__ import annotations


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
