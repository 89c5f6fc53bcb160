"""A swap's info output: its warnings on screen (a CPU fallback on a GPU machine among them) and its text."""

from __future__ import annotations

import logging

from ...pipeline.run_report import cpu_fallback_warning, run_info
from ...pipeline.analysis.similarity import describe_similarities
from .device import gpu_present, runtime_warning
from .memory import held_models
from .toasts import show_warnings

log = logging.getLogger("faceswap_v3")
_toasted: set[str] = set()  # runtime warnings already shown on screen (once per process; info keeps them)


def report_run(result) -> str:
    """Show a swap's warnings (and a CPU fallback on a GPU machine); return the info output's text."""
    warnings = list(result.warnings)
    mismatch = runtime_warning()  # logged once where it is found
    cpu = mismatch or cpu_fallback_warning(result.runs_on, gpu_present())
    if cpu and cpu != mismatch:
        log.warning("Faceswap V3: %s", cpu)
    if cpu:
        warnings.append(cpu)
    show_warnings([w for w in warnings if w != mismatch or mismatch not in _toasted])
    if mismatch:
        _toasted.add(mismatch)
    details = ([describe_similarities(result.face_similarities)] if result.face_similarities else []) + result.tracks
    info = "\n".join(filter(None, [run_info(result.faces_swapped, result.runs_on, warnings, details), held_models()]))
    log.info("Faceswap V3: %s", info.replace("\n", "; "))
    return info
