"""Benchmark: milliseconds per frame and time per stage of the whole job on a 1280x720 clip, the
overlapped pipeline against the strictly sequential one and the pack's own choice ("auto", threads.py),
interleaved in one run, at 1, 3 and 6 faces per frame; medians (min-max) and ratios.

    .venv/bin/python bench/frame_throughput.py [--standins DIR] [--swapper swapper_10g.onnx] [--frames 4]
        [--size 1280x720] [--faces 0 --faces 0,1,2 --faces 0,1,2,3,4,5] [--restore GFPGAN]
        [--detector NAME ...] [--repeats 2] [--torch-threads N]

The clip is bench/synthetic_clip.py's pan and zoom over group_6faces_t1.jpg, JPEG-encoded: decoding
is the first stage, as when reading a video. The swapper and recognizer are the realistic stand-ins
(bench_common.py: swapper_10g.onnx ~11 GMACs per face by default, swapper_real.onnx ~174.6 GMACs;
arcface_r50.onnx ~6.3 GMACs); --restore runs a real-size GFPGAN with random weights (seconds per face
on a CPU). The numbers are speed and overhead, never quality. Stage times are exclusive (a stage's time
excludes the stages it calls), summed over both threads in an overlapped run ("busy"), averaged over
the repeats."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))  # the stand-in model builders (tools/standins.py)

import standins  # noqa: E402
from bench_common import (STANDIN_GMACS, add_standins_argument, interleaved, load_average, machine,  # noqa: E402
                          ratio, round_ratios, spread, standins_folder)
from synthetic_clip import make_clip  # noqa: E402

from faceswap_v3.pipeline import job
from faceswap_v3.pipeline.restore import restorer as restore
from faceswap_v3.pipeline.swap import frame_swap as swap  # noqa: E402
from faceswap_v3.pipeline.analysis.detectors import load_detector  # noqa: E402
from faceswap_v3.pipeline.swap_models import SwapModels  # noqa: E402
from faceswap_v3.pipeline.runtime.read_ahead import LazyFrames  # noqa: E402
from faceswap_v3.pipeline.runtime.threads import MIN_CORES_TO_OVERLAP, available_cores  # noqa: E402
from faceswap_v3.pipeline.runtime.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.models.store import ModelStore  # noqa: E402
from faceswap_v3.pipeline.params import FaceswapParams  # noqa: E402

SHARED = Path(os.environ.get("FACESWAP_V3_SHARED", REPO.parent / "shared"))
DETECTORS = {"retinaface_mobile0.25": "detection_mobilenet0.25_Final.pth",
             "scrfd_2.5g_bnkps.onnx": "scrfd_2.5g_bnkps.onnx"}
STAGES = ("decode", "detect", "inference: detect", "align", "swap", "inference: swap", "paste", "restore",
          "inference: restore")


class StageClock:
    """Exclusive time per stage, per thread: a stage started inside another pauses the outer one."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._lock, self._local = threading.Lock(), threading.local()

    def start(self, name: str) -> None:
        self._stack().append([name, time.perf_counter(), 0.0])

    def stop(self) -> None:
        name, began, inner = self._stack().pop()
        spent = time.perf_counter() - began
        with self._lock:
            self.totals[name] += spent - inner
        if self._stack():
            self._stack()[-1][2] += spent

    def _stack(self) -> list:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            self.start(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stop()
        return timed

    def inference(self) -> float:
        return sum(v for k, v in self.totals.items() if k.startswith("inference"))


class TimedSession:
    """An onnxruntime session whose run() is timed; everything else passes through."""

    def __init__(self, session, clock: StageClock, name: str) -> None:
        self._session, self.run = session, clock.wrap(name, session.run)

    def __getattr__(self, attr):
        return getattr(self._session, attr)


def time_torch_module(module, clock: StageClock, name: str) -> None:
    module.register_forward_pre_hook(lambda *_: clock.start(name))
    module.register_forward_hook(lambda *_: clock.stop())


def instrument_detector(models: SwapModels, params: FaceswapParams, clock: StageClock) -> None:
    """Time the detector the job uses (cached, so the job gets this very one)."""
    detector = load_detector(params.facedetection, models.store, models.device)
    if hasattr(detector, "net"):
        time_torch_module(detector.net, clock, "inference: detect")
    else:
        sessions = detector.model._session_for_input_size
        detector.model._session_for_input_size = lambda size: TimedSession(sessions(size), clock, "inference: detect")
    detector.detect = clock.wrap("detect", detector.detect)


def instrument(models: SwapModels, params: FaceswapParams, clock: StageClock) -> None:
    """Time the swapper, restorer and the align / paste steps of the job."""
    swapper = models.swapper()
    swapper.session = TimedSession(swapper.session, clock, "inference: swap")
    swapper.swap_tiles = clock.wrap("swap", swapper.swap_tiles)
    recognizer = models.recognizer()  # the source's embedding (and every swapped face with measure_similarity)
    recognizer.model.session = TimedSession(recognizer.model.session, clock, "inference: recognize")
    for module in (swap, restore):
        module.warp_crop = clock.wrap("align", module.warp_crop)
        module.paste_crop = clock.wrap("paste", module.paste_crop)
    swap.swap_matrix = clock.wrap("align", swap.swap_matrix)
    restore.ffhq_matrix = clock.wrap("align", restore.ffhq_matrix)
    job.restore_frames = clock.wrap("restore", job.restore_frames)
    if params.face_restore_weight:
        time_torch_module(models.restorer(params.face_restore).descriptor.model, clock, "inference: restore")


def models_root(folder: Path, standin_dir: Path, swapper: str, restorer: str | None) -> Path:
    for name in DETECTORS.values():
        (folder / "facedetection").mkdir(parents=True, exist_ok=True)
        (folder / "facedetection" / name).symlink_to(SHARED / "models" / name)
    (folder / "insightface" / "models" / "buffalo_l").mkdir(parents=True, exist_ok=True)
    (folder / "insightface" / "inswapper_128.onnx").symlink_to(standin_dir / swapper)
    (folder / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx").symlink_to(standin_dir / "arcface_r50.onnx")
    if restorer:
        standins.restorer_checkpoint(folder / "facerestore_models" / f"{restorer}v1.4.pth", restorer)
    return folder


def encoded_clip(count: int, size: tuple[int, int]) -> list[bytes]:
    import cv2

    clip = make_clip(read_image_file(SHARED / "fixtures" / "faces" / "group_6faces_t1.jpg"), count, size)
    return [cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes() for frame in clip.frames]


MODES = {"sequential": False, "overlapped": True, "auto": None}


def run(encoded: list[bytes], size, source, params, models, clock: StageClock, pipelined: bool | None):
    import cv2

    def decode(i: int) -> np.ndarray:
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(encoded[i], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    frames = LazyFrames(len(encoded), (size[1], size[0], 3), clock.wrap("decode", decode))
    return job.run_faceswap(source, frames, params, models, pipelined=pipelined)


def report(name: str, frames: int, times: dict, stages: dict, identical: bool) -> None:
    print(f"\n{name}: {'stage (ms/frame)':20} " + " ".join(f"{mode:>16}" for mode in MODES))
    pad = " " * (len(name) + 2)
    for stage in STAGES:
        values = [stages[mode].get(stage, 0.0) for mode in MODES]
        if any(values):
            print(f"{pad}{stage:20} " + " ".join(f"{v * 1e3 / frames:16.1f}" for v in values))
    print(f"{pad}{'wall, median (min-max)':24}" + "  ".join(f"{spread(times[m], 1e3 / frames):>17}" for m in MODES))
    seq = times["sequential"]
    inference = {m: sum(v for k, v in stages[m].items() if k.startswith("inference")) for m in MODES}
    same = (f"; with {available_cores()} cores (< {MIN_CORES_TO_OVERLAP}) auto runs the sequential path, so this "
            f"ratio is the bench's own noise") if available_cores() < MIN_CORES_TO_OVERLAP else ""
    print(f"  overlapped / sequential {ratio(times['overlapped'], seq):.2f} (per round "
          f"{round_ratios(times['overlapped'], seq)}), auto / sequential {ratio(times['auto'], seq):.2f} (per round "
          f"{round_ratios(times['auto'], seq)}{same}) (time per frame; below 1 is faster); time outside model "
          f"inference: "
          f"{100 * (1 - inference['sequential'] / (sum(seq) / len(seq))):.1f}% of the sequential wall time; "
          f"frames identical in every mode: {'yes' if identical else 'NO'}")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_standins_argument(parser)
    parser.add_argument("--swapper", default="swapper_10g.onnx", choices=("swapper_real.onnx", "swapper_10g.onnx"))
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--faces", action="append", help="input_faces_index (repeatable; default 0, 0,1,2 and "
                                                         "0,1,2,3,4,5)")
    parser.add_argument("--restore", choices=("GFPGAN",), help="restore with a real-size random-weight GFPGAN")
    parser.add_argument("--detector", action="append", choices=list(DETECTORS))
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per mode")
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (for the torch detectors)")
    args = parser.parse_args()
    standin_dir = standins_folder(args.standins)
    size = tuple(int(v) for v in args.size.split("x"))
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{args.frames} frames {size[0]}x{size[1]}, swapper {args.swapper} ({STANDIN_GMACS[args.swapper]} GMACs "
          f"per face), restore {args.restore or 'off'}; {device}, {machine()}, torch threads {torch.get_num_threads()}")
    encoded = encoded_clip(args.frames, size)
    source = read_image_file(SHARED / "fixtures" / "faces" / "portrait_female_02.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        clock = StageClock()
        root = models_root(Path(tmp), standin_dir, args.swapper, args.restore)
        models = SwapModels(store=ModelStore(models_root=root, allow_download=False))
        detectors = args.detector or ["scrfd_2.5g_bnkps.onnx"]
        instrumented: set[str] = set()
        for detector in detectors:
            for faces in args.faces or ["0", "0,1,2", "0,1,2,3,4,5"]:
                params = FaceswapParams(facedetection=detector, input_faces_index=faces, detection_face_order="left-right",
                                        face_restore="GFPGANv1.4.pth", face_restore_weight=0.75 if args.restore else 0.0)
                # load every model and let torch / onnxruntime prepare for this frame size before the clock starts
                run(encoded[:1], size, source, params, models, StageClock(), pipelined=False)
                if not instrumented:
                    instrument(models, params, clock)
                if detector not in instrumented:
                    instrument_detector(models, params, clock)
                    instrumented.add(detector)
                stages = {mode: defaultdict(float) for mode in MODES}
                results = {}

                def timed(mode):
                    def go():
                        clock.totals.clear()
                        results[mode] = run(encoded, size, source, params, models, clock, MODES[mode])
                        for stage, seconds in clock.totals.items():
                            stages[mode][stage] += seconds / args.repeats
                    return go

                times = interleaved({mode: timed(mode) for mode in MODES}, args.repeats, warmup=False)
                identical = all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in
                                zip(*(results[mode].frames for mode in MODES)))
                report(f"{detector}, {len(faces.split(','))} face(s)", args.frames, times, stages, identical)
                print(f"  load average at the end {load_average()}", flush=True)


if __name__ == "__main__":
    main()
