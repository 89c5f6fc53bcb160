"""The drift bound of a reduced precision, checked on each model before `auto` uses it: one probe input through
the model in fp32 (onnxruntime) and in the candidate session; the outputs' mean absolute difference must be at
most 0.5 and the largest at most 4 of 256 levels of the fp32 output's range. The verdict is kept per file
(path, size, modification time, runtime version) so a model is probed once, not at every start."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MEAN_LEVELS = 0.5
MAX_LEVELS = 4.0
VERDICTS_FILE = "runtime_drift.json"
_lock = threading.Lock()


@dataclass(frozen=True)
class Drift:
    mean_levels: float
    max_levels: float

    @property
    def within_bound(self) -> bool:
        return self.mean_levels <= MEAN_LEVELS and self.max_levels <= MAX_LEVELS

    def describe(self) -> str:
        return f"mean {self.mean_levels:.2f}, max {self.max_levels:.2f} of 256 levels"


def drift(reference: np.ndarray, candidate: np.ndarray) -> Drift:
    """The candidate's difference from the fp32 reference in 8-bit levels of the reference's range."""
    reference, candidate = (np.asarray(a, np.float64) for a in (reference, candidate))
    span = float(reference.max() - reference.min()) or 1.0
    levels = np.abs(candidate - reference) * (255.0 / span)
    return Drift(float(levels.mean()), float(levels.max()))


def pixel_drift(reference: np.ndarray, candidate: np.ndarray) -> Drift:
    """Two uint8 images' difference in levels (the bound on a swapped or restored crop)."""
    levels = np.abs(reference.astype(np.int16) - candidate.astype(np.int16))
    return Drift(float(levels.mean()), float(levels.max()))


def probe_feed(inputs) -> dict[str, np.ndarray]:
    """A deterministic input for each of the session's inputs: images as smooth gradients with texture in
    0..1, vectors as unit-length rows (an embedding); a size left open is 1 for the batch, else 640."""
    rng = np.random.default_rng(7)
    feed = {}
    for port in inputs:
        shape = [d if isinstance(d, int) and d > 0 else (1 if k == 0 else 640) for k, d in enumerate(port.shape)]
        dtype = np.float16 if port.type == "tensor(float16)" else np.float32
        if len(shape) == 4:
            h, w = (shape[2], shape[3]) if shape[1] in (1, 3) else (shape[1], shape[2])
            yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
            base = 0.5 + 0.3 * np.sin(6 * xx + 3 * yy)[None, None] + 0.1 * rng.standard_normal((shape[0], 1, h, w))
            values = np.broadcast_to(np.clip(base, 0, 1), (shape[0], 3 if shape[1] in (1, 3) else shape[3], h, w))
            values = values[:, :shape[1]] if shape[1] in (1, 3) else values.transpose(0, 2, 3, 1)
        else:
            values = rng.standard_normal(shape)
            values = values / np.linalg.norm(values, axis=-1, keepdims=True)
        feed[port.name] = np.ascontiguousarray(values, dtype=dtype)
    return feed


def measure(path: Path, candidate) -> Drift:
    """The candidate session's drift from onnxruntime fp32 on the probe input (largest over its outputs)."""
    import onnxruntime as ort

    reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = probe_feed(reference.get_inputs())
    worst = Drift(0.0, 0.0)
    for ref, out in zip(reference.run(None, feed), candidate.run(None, feed)):
        found = drift(ref, out)
        worst = Drift(max(worst.mean_levels, found.mean_levels), max(worst.max_levels, found.max_levels))
    return worst


def _key(path: Path, runtime: str) -> str:
    stat = Path(path).stat()
    return f"{Path(path).resolve()}|{stat.st_size}|{int(stat.st_mtime)}|{runtime}"


def checked_drift(path: Path, candidate, runtime: str, verdicts: Path | None) -> Drift:
    """measure(), remembered in the verdicts file (JSON) when one is given."""
    return checked_verdict(path, runtime, verdicts, lambda: measure(path, candidate))


def checked_verdict(path: Path, runtime: str, verdicts: Path | None, measure_now) -> Drift:
    """The drift remembered for (this file as it is now, runtime), else measure_now() remembered."""
    key = _key(path, runtime)
    with _lock:
        known = _read(verdicts).get(key) if verdicts else None
        if isinstance(known, list) and len(known) == 2 and all(isinstance(v, (int, float)) for v in known):
            return Drift(*known)
        found = measure_now()
        if verdicts:
            table = _read(verdicts)
            table[key] = [found.mean_levels, found.max_levels]
            verdicts.parent.mkdir(parents=True, exist_ok=True)
            temporary = verdicts.with_suffix(".tmp")
            temporary.write_text(json.dumps(table, indent=1))
            temporary.replace(verdicts)
        return found


def _read(verdicts: Path) -> dict:
    try:
        table = json.loads(verdicts.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: measured again
        return {}
    return table if isinstance(table, dict) else {}


def default_verdicts_file() -> Path:
    from ..models.locate import user_cache_root

    return user_cache_root().parent / VERDICTS_FILE
