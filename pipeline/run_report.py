"""What a run tells its user: faces swapped per frame, where each model ran, and its warnings."""

from __future__ import annotations

from .runtime.names import on_cpu


def models_on_cpu(runs_on: list[str]) -> list[str]:
    """The names of the models that ran on the CPU, from "name: where" entries."""
    return [entry.rsplit(": ", 1)[0] for entry in runs_on if on_cpu(entry)]


def cpu_fallback_warning(runs_on: list[str], gpu_present: bool) -> str | None:
    """A warning when a GPU is there but some model ran on the CPU (usually onnxruntime's CPU build)."""
    on_cpu = models_on_cpu(runs_on)
    if not gpu_present or not on_cpu:
        return None
    return (f"{', '.join(on_cpu)} ran on the CPU although a GPU is present; for onnxruntime models install "
            "onnxruntime-gpu in ComfyUI's Python (README, 'NVIDIA GPU')")


def run_info(faces_swapped: list[int], runs_on: list[str], warnings: list[str], details: list[str] = ()) -> str:
    """The text of a swapping node's `info` output, one fact per line (details: e.g. face similarity and
    tracks per frame, after the face counts)."""
    counts = ", ".join(str(n) for n in faces_swapped[:32]) + (" ..." if len(faces_swapped) > 32 else "")
    lines = [f"faces swapped per frame: {counts}", *details, *(f"model {entry}" for entry in runs_on)]
    lines += [f"warning: {message}" for message in warnings]
    return "\n".join(lines)
