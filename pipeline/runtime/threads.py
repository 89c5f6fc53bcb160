"""One thread budget: how many threads each onnxruntime session gets (per device and role), and whether
the frame stages may overlap (analysis of frame k+1 on a worker thread while frame k is swapped).

Without a budget, every session gets onnxruntime's default pool (one thread per core), so when the
read-ahead thread detects while the main thread swaps, two pools fight over the same cores. Here:
- on the CPU with too few cores for both stages, the stages run one after the other and every session
  gets all the cores (only one model runs at a time);
- on the CPU with enough cores, the analysis models share a quarter of them and the swap models the rest;
- on a GPU (CUDA), the stages overlap and each session keeps one CPU thread for the few ops left on the CPU.

The user may fix every session's threads with FACESWAP_V3_INTRA_OP_THREADS / FACESWAP_V3_INTER_OP_THREADS
(whole numbers from 1 to the cores this process may use)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from ..errors import BadInput

INTRA_OP_SETTING = "FACESWAP_V3_INTRA_OP_THREADS"
INTER_OP_SETTING = "FACESWAP_V3_INTER_OP_THREADS"
ANALYSIS_ROLES = ("detect", "genderage", "recognize")  # run on the read-ahead thread when the stages overlap
SWAP_ROLES = ("swap", "mask")  # run on the calling thread
ROLES = ANALYSIS_ROLES + SWAP_ROLES
# Overlapping pays on the CPU only when each stage keeps cores of its own: measured on 2 cores, the
# overlapped run was slower than the sequential one (bench/frame_throughput.py).
MIN_CORES_TO_OVERLAP = 4
SPINNING_ENTRY = "session.intra_op.allow_spinning"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's limit), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def check_thread_setting(name: str, value: object, cores: int) -> int:
    """A thread count from 1 to cores, else BadInput naming the setting (one line)."""
    text = str(value).strip()
    count = int(text) if text.lstrip("-").isdigit() else None
    if count is None or not 1 <= count <= cores:
        raise BadInput(f"{name} must be a whole number from 1 to {cores} (the cores this process may use), "
                       f"got {text!r}; unset it to let the pack choose")
    return count


@dataclass(frozen=True)
class ThreadBudget:
    """cores: the CPU cores to share. intra_op / inter_op: the user's fixed counts (None: chosen per role)."""

    cores: int
    intra_op: int | None = None
    inter_op: int | None = None

    def overlap(self, on_gpu: bool) -> bool:
        """Whether analysis and swap may run at once: on a GPU, or on a CPU with cores for both stages."""
        return on_gpu or self.cores >= MIN_CORES_TO_OVERLAP

    def spins(self, on_gpu: bool) -> bool:
        """Whether a session's threads spin waiting for work after a call (onnxruntime's default) instead of
        sleeping: not when the stages run one after the other on the CPU. One session runs at a time there, so
        a pool still spinning after its call only takes the cores from the next one (bench/vs_insightface.py,
        2 cores, every model on onnxruntime fp32: a frame in 0.76x the time at 11 GMACs, 0.93x at 174.6)."""
        return self.overlap(on_gpu)

    def threads(self, role: str, on_gpu: bool) -> tuple[int, int]:
        """(intra-op, inter-op) threads for a session of this role on this device."""
        if role not in ROLES:
            raise ValueError(f"unknown session role {role!r}; expected one of {', '.join(ROLES)}")
        inter = self.inter_op or 1
        if self.intra_op is not None:
            return self.intra_op, inter
        if on_gpu:
            return 1, inter
        if not self.overlap(on_gpu):
            return self.cores, inter
        analysis = max(1, self.cores // 4)
        return (analysis if role in ANALYSIS_ROLES else self.cores - analysis), inter


def thread_budget(environ: Mapping[str, str] | None = None, cores: int | None = None) -> ThreadBudget:
    """The budget for this process: its cores and the user's settings (checked: BadInput naming a bad one)."""
    environ = os.environ if environ is None else environ
    cores = cores or available_cores()
    fixed = {name: check_thread_setting(name, environ[name], cores)
             for name in (INTRA_OP_SETTING, INTER_OP_SETTING) if environ.get(name, "").strip()}
    return ThreadBudget(cores, fixed.get(INTRA_OP_SETTING), fixed.get(INTER_OP_SETTING))


def session_options(role: str, providers: list[str]):
    """onnxruntime SessionOptions with this role's thread counts for the device the providers put it on."""
    import onnxruntime as ort

    on_gpu = providers[0] != "CPUExecutionProvider"
    budget = thread_budget()
    intra, inter = budget.threads(role, on_gpu)
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = inter
    options.execution_mode = ort.ExecutionMode.ORT_PARALLEL if inter > 1 else ort.ExecutionMode.ORT_SEQUENTIAL
    if not budget.spins(on_gpu):
        options.add_session_config_entry(SPINNING_ENTRY, "0")
    return options
