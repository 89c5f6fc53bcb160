"""A face restorer (GFPGAN, CodeFormer) run by OpenVINO from its export (torch_export.py): bf16 on a CPU
with BF16 units where the restored 512 px crop stays within the drift bound of torch fp32 (checked once per
checkpoint on a probe crop, remembered with the other verdicts), else OpenVINO f32."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..options import DEFAULTS
from .drift import MAX_LEVELS, MEAN_LEVELS, Drift, default_verdicts_file, pixel_drift, probe_feed
from .openvino_session import OpenVinoSession, PortInfo

RESTORE_SIZE = 512


class OpenVinoRestorer:
    """restore(crops (N, 512, 512, 3) RGB uint8, fidelity) -> (N, 512, 512, 3) float32 in 0..1; fidelity is
    CodeFormer's weight (the others have no such input)."""

    def __init__(self, session: OpenVinoSession, architecture: str) -> None:
        self.session = session
        self.architecture = architecture
        self.runs_on = f"openvino:{session.device}:{session.precision}"
        self._takes_fidelity = any(port.name == "weight" for port in session.get_inputs())

    def restore(self, crops: np.ndarray, fidelity: float = DEFAULTS["codeformer_fidelity"]) -> np.ndarray:
        x = crops.astype(np.float32).transpose(0, 3, 1, 2) * (2 / 255.0) - 1.0
        out = np.empty((len(crops), RESTORE_SIZE, RESTORE_SIZE, 3), np.float32)
        extra = {"weight": np.array([fidelity], np.float32)} if self._takes_fidelity else {}
        for i in range(len(crops)):
            y = self.session.run(["output"], {"input": np.ascontiguousarray(x[i:i + 1]), **extra})[0][0]
            out[i] = (np.clip(y, -1.0, 1.0).transpose(1, 2, 0) + 1.0) / 2.0
        return out


def probe_crop() -> np.ndarray:
    """A deterministic (1, 512, 512, 3) uint8 crop with smooth shading and texture (drift.probe_feed's)."""
    image = probe_feed([PortInfo("input", [1, 3, RESTORE_SIZE, RESTORE_SIZE], "tensor(float)")])["input"]
    return (image.transpose(0, 2, 3, 1) * 255 + 0.5).clip(0, 255).astype(np.uint8)


def to_uint8(restored: np.ndarray) -> np.ndarray:
    return (restored * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def openvino_restorer(network, architecture: str, checkpoint: Path, device: str, precisions: tuple[str, ...],
                      probe: bool, torch_restore: Callable[[np.ndarray], np.ndarray],
                      threads: int | None) -> tuple[OpenVinoRestorer, str]:
    """(the restorer in the first precision whose probe crop is within the bound of torch_restore's (uint8
    crops -> uint8 crops) - or the first, when probe is False -, why the ones before it were not used)."""
    from .choice import warn_once
    from .drift import checked_verdict
    from .torch_export import export_restorer

    path = export_restorer(network, architecture, checkpoint)
    crop, reference = None, None
    notes = []
    for precision in precisions:
        session = OpenVinoSession(path, device, precision, threads)
        restorer = OpenVinoRestorer(session, architecture)
        if not probe or precision == "fp32":
            return restorer, "; ".join(notes)

        def measure() -> Drift:
            nonlocal crop, reference
            if reference is None:
                crop = probe_crop()
                reference = torch_restore(crop)
            return pixel_drift(reference, to_uint8(restorer.restore(crop)))

        found = checked_verdict(checkpoint, f"{restorer.runs_on}|{architecture}", default_verdicts_file(), measure)
        if found.mean_levels <= MEAN_LEVELS and found.max_levels <= MAX_LEVELS:
            return restorer, "; ".join(notes)
        notes.append(f"{precision} not used, its restored crop drifted past the bound ({found.describe()})")
        warn_once(f"{Path(checkpoint).name}: {notes[-1]}")
    raise ValueError("no precision given")
