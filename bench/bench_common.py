"""What every benchmark shares: the realistic stand-in models, A/B runs interleaved in one process,
medians with min-max, and a spy that times every onnxruntime session.run.

The realistic stand-ins compute like the real models (random weights, the real layouts' MACs); they are
generated once, outside the repository (the swapper file is ~550 MB), never committed:

    python ../shared/tools/realistic_standins.py ../standins

writes swapper_real.onnx (inswapper_128's layout, ~174.6 GMACs per call, fixed batch 1), swapper_10g.onnx
(the same layout with a quarter of the channels, ~11 GMACs) and arcface_r50.onnx (~6.3 GMACs). A benchmark
finds them with --standins DIR, else $FACESWAP_V3_STANDINS, else ../standins beside the repository."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from shared_files import SHARED  # noqa: E402

STANDIN_GMACS = {"swapper_real.onnx": 174.6, "swapper_10g.onnx": 11.0, "arcface_r50.onnx": 6.3}


def add_standins_argument(parser) -> None:
    parser.add_argument("--standins", type=Path, default=None,
                        help="folder of the realistic stand-ins (default: $FACESWAP_V3_STANDINS or ../standins)")


def standins_folder(given: Path | None) -> Path:
    # absolute: the benches link model roots to these files, and a relative link would point nowhere
    folder = Path(given or os.environ.get("FACESWAP_V3_STANDINS") or REPO.parent / "standins").resolve()
    missing = [name for name in STANDIN_GMACS if not (folder / name).is_file()]
    if missing:
        sys.exit(f"the realistic stand-ins are not in {folder} (missing {', '.join(missing)}); generate them once "
                 f"with: python {SHARED / 'tools' / 'realistic_standins.py'} {folder}   (or pass --standins DIR)")
    return folder


def cpu_name() -> str:
    """The CPU's model name and whether it has BF16 units (what `auto` needs for OpenVINO bf16)."""
    from faceswap_v3.pipeline.runtime.platform import cpu_flags_bf16

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "CPU ?"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    return f"{name} ({'with' if cpu_flags_bf16(text) else 'no'} BF16 units)"


def machine() -> str:
    import onnxruntime as ort

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = "CUDAExecutionProvider" in ort.get_available_providers()
    return (f"{cpu_name()}, {cores} cores, load average {load_average()} (1/5/15 min), onnxruntime {ort.__version__}"
            f"{' (CUDA build)' if gpu else ', CPU only'}")


def interleaved(modes: dict[str, Callable[[], object]], repeats: int, warmup: bool = True) -> dict[str, list[float]]:
    """Seconds per run of each mode, the modes taking turns (A B A B ...) so a change in the machine's load
    touches them alike. Each mode runs once untimed first when warmup."""
    if warmup:
        for fn in modes.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(repeats):
        for name, fn in modes.items():
            began = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - began)
    return times


def spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """'median (min-max)' of values times scale."""
    v = [x * scale for x in values]
    return f"{statistics.median(v):.{digits}f} ({min(v):.{digits}f}-{max(v):.{digits}f})"


def ratio(a: list[float], b: list[float]) -> float:
    """median(a) / median(b)."""
    return statistics.median(a) / statistics.median(b)


def round_ratios(a: list[float], b: list[float]) -> str:
    """'median (min-max)' of a[i] / b[i], the runs of one interleaved round each: how far a single round's
    ratio strays (the bench's noise) beside the ratio of medians."""
    return spread([x / y for x, y in zip(a, b)], digits=2)


RUNTIME_SETTINGS = ("FACESWAP_V3_RUNTIME", "FACESWAP_V3_PRECISION")


@contextlib.contextmanager
def runtime_setting(runtime: str | None) -> Iterator[None]:
    """FACESWAP_V3_RUNTIME set to runtime (None: unset, the default path a user gets) and FACESWAP_V3_PRECISION
    unset while models load inside the block; both restored after. Models keep the runtime they loaded with."""
    saved = {name: os.environ.pop(name, None) for name in RUNTIME_SETTINGS}
    if runtime is not None:
        os.environ["FACESWAP_V3_RUNTIME"] = runtime
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def print_runs(mode: str, detector, models) -> None:
    """Where each model of a mode runs: its detector and its SwapModels (runtime and precision)."""
    where = {"detector": detector.runs_on, **models.runs_on}
    print(f"  {mode} runs: " + "; ".join(f"{file} on {at}" for file, at in where.items()), flush=True)


def load_average() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


class SessionTimer:
    """Wall time spent inside onnxruntime's InferenceSession.run (and run_with_iobinding) and the pack's
    OpenVinoSession.run, per model, counted on every session of the process while installed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._saved = None

    def install(self, name_of: Callable[[object], str]) -> "SessionTimer":
        import onnxruntime as ort

        from faceswap_v3.pipeline.runtime.openvino_session import OpenVinoSession

        real_run, real_bound = ort.InferenceSession.run, ort.InferenceSession.run_with_iobinding
        self._saved = (real_run, real_bound, OpenVinoSession.run)
        timer = self

        def timed(real):
            def run(session, *args, **kwargs):
                began = time.perf_counter()
                try:
                    return real(session, *args, **kwargs)
                finally:
                    with timer._lock:
                        timer.seconds[name_of(session)] += time.perf_counter() - began
                        timer.calls[name_of(session)] += 1
            return run

        ort.InferenceSession.run = timed(real_run)
        ort.InferenceSession.run_with_iobinding = timed(real_bound)
        OpenVinoSession.run = timed(self._saved[2])
        return self

    def uninstall(self) -> None:
        import onnxruntime as ort

        from faceswap_v3.pipeline.runtime.openvino_session import OpenVinoSession

        ort.InferenceSession.run, ort.InferenceSession.run_with_iobinding, OpenVinoSession.run = self._saved

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def total(self) -> float:
        return sum(self.seconds.values())


def model_of(session) -> str:
    """A session's model, told by its interface (insightface's SCRFD sessions have no file name)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(outputs) >= 5:
        return "detect"
    if len(inputs) == 2:
        return "swap"
    shape = inputs[0].shape
    return "recognize" if shape[-1] == 112 else f"model {shape}"
