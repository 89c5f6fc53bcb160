"""Benchmark: frames per second and time per stage of the whole job on a 32-frame 1280x720 clip, the
overlapped pipeline against the strictly sequential one, in the same run, for the real RetinaFace
MobileNet-0.25 and SCRFD-2.5G detectors.

    .venv/bin/python bench/frame_throughput.py [--frames 32] [--size 1280x720] [--faces 0,1,2]
                                               [--restore GFPGAN] [--detector NAME ...] [--repeats 1] [--torch-threads N]

The clip is bench/synthetic_clip.py's pan and zoom over group_6faces_t1.jpg, JPEG-encoded: decoding
is the first stage, as when reading a video. The swapper and recognizer are stand-ins with the exact
interface of inswapper_128 / w600k_r50 (tools/standins.py), so "swap inference" is far cheaper than
the real inswapper's; --restore runs a real-size GFPGAN with random weights (seconds per face on a
CPU). The numbers are speed and overhead, never quality. Stage times are exclusive (a stage's time
excludes the stages it calls) and, in the pipelined run, summed over both threads ("busy")."""

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
from synthetic_clip import make_clip  # noqa: E402

from faceswap_v3.pipeline import job, restore, swap  # noqa: E402
from faceswap_v3.pipeline.detectors import load_detector  # noqa: E402
from faceswap_v3.pipeline.models.swap_models import SwapModels  # noqa: E402
from faceswap_v3.pipeline.frame_pipeline import LazyFrames  # noqa: E402
from faceswap_v3.pipeline.images import read_image_file  # noqa: E402
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
    recognizer = models.recognizer()  # face_similarity embeds every swapped face
    recognizer.model.session = TimedSession(recognizer.model.session, clock, "inference: recognize")
    for module in (swap, restore):
        module.warp_crop = clock.wrap("align", module.warp_crop)
        module.paste_crop = clock.wrap("paste", module.paste_crop)
    swap.swap_matrix = clock.wrap("align", swap.swap_matrix)
    restore.ffhq_matrix = clock.wrap("align", restore.ffhq_matrix)
    job.restore_frames = clock.wrap("restore", job.restore_frames)
    if params.face_restore_weight:
        time_torch_module(models.restorer(params.face_restore).descriptor.model, clock, "inference: restore")


def models_root(folder: Path, restorer: str | None, heavy_swapper: bool = False) -> Path:
    for name in DETECTORS.values():
        (folder / "facedetection").mkdir(parents=True, exist_ok=True)
        (folder / "facedetection" / name).symlink_to(SHARED / "models" / name)
    if heavy_swapper:  # inswapper's interface with ~2.4 GMACs per face (the real one is heavier)
        from pixel_boost_speed import heavy_swapper as build_heavy_swapper

        (folder / "insightface").mkdir(parents=True, exist_ok=True)
        build_heavy_swapper(folder / "insightface" / "inswapper_128.onnx")
    else:
        standins.inswapper(folder / "insightface" / "inswapper_128.onnx", "latent", colour=(0.3, -0.3, 0.2))
    standins.arcface(folder / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx")
    if restorer:
        standins.restorer_checkpoint(folder / "facerestore_models" / f"{restorer}v1.4.pth", restorer)
    return folder


def best_run(repeats: int, *args):
    return min((run(*args) for _ in range(repeats)), key=lambda outcome: outcome[1])


def encoded_clip(count: int, size: tuple[int, int]) -> list[bytes]:
    import cv2

    clip = make_clip(read_image_file(SHARED / "fixtures" / "faces" / "group_6faces_t1.jpg"), count, size)
    return [cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes() for frame in clip.frames]


def run(encoded: list[bytes], size, source, params, models, clock: StageClock, pipelined: bool):
    import cv2

    def decode(i: int) -> np.ndarray:
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(encoded[i], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    frames = LazyFrames(len(encoded), (size[1], size[0], 3), clock.wrap("decode", decode))
    clock.totals.clear()
    began = time.perf_counter()
    result = job.run_faceswap(source, frames, params, models, pipelined=pipelined)
    return result, time.perf_counter() - began, dict(clock.totals)


def report(name: str, frames: int, runs: dict, identical: bool) -> None:
    print(f"\n{name}: {'stage':20} {'sequential ms/frame':>20} {'pipelined ms/frame (busy)':>27}")
    for stage in STAGES:
        values = [runs[mode][2].get(stage, 0.0) for mode in ("sequential", "pipelined")]
        if any(values):
            print(f"{'':{len(name) + 2}}{stage:20} {values[0] * 1e3 / frames:20.1f} {values[1] * 1e3 / frames:27.1f}")
    seq_wall, pipe_wall = runs["sequential"][1], runs["pipelined"][1]
    untimed = seq_wall - sum(runs["sequential"][2].values())
    print(f"{'':{len(name) + 2}}{'untimed glue':20} {untimed * 1e3 / frames:20.1f} {'-':>27}")
    print(f"{'':{len(name) + 2}}{'wall':20} {seq_wall * 1e3 / frames:20.1f} {pipe_wall * 1e3 / frames:27.1f}")
    print(f"{'':{len(name) + 2}}{'frames/s':20} {frames / seq_wall:20.2f} {frames / pipe_wall:27.2f}")
    seq_inference = sum(v for k, v in runs["sequential"][2].items() if k.startswith("inference"))
    pipe_busy = runs["pipelined"][2]
    pipe_inference = sum(v for k, v in pipe_busy.items() if k.startswith("inference"))
    print(f"  time outside model inference: {100 * (1 - seq_inference / seq_wall):.1f}% of the sequential run's "
          f"wall time; {100 * (1 - pipe_inference / sum(pipe_busy.values())):.1f}% of the pipelined run's timed "
          f"busy time; pipelined {seq_wall / pipe_wall:.2f}x the sequential speed; frames identical: "
          f"{'yes' if identical else 'NO'}")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--faces", default="0,1,2", help="input_faces_index")
    parser.add_argument("--restore", choices=("GFPGAN",), help="restore with a real-size random-weight GFPGAN")
    parser.add_argument("--detector", action="append", choices=list(DETECTORS))
    parser.add_argument("--repeats", type=int, default=1, help="runs per mode; the fastest is reported")
    parser.add_argument("--heavy-swapper", action="store_true",
                        help="a stand-in swapper that computes like a real one (~2.4 GMACs per face, below the real "
                             "inswapper_128's), so the share outside inference is not inflated by a free model")
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (on a loaded 2-core machine, "
                                                            "torch's 2-thread OpenMP team on the main thread ran "
                                                            "RetinaFace 20-50x slower than with 1)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{args.frames} frames {size[0]}x{size[1]}, input_faces_index {args.faces}, restore "
          f"{args.restore or 'off'}; {device}"
          + ("" if device == "cuda" else f" only (no GPU), {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"))
    encoded = encoded_clip(args.frames, size)
    source = read_image_file(SHARED / "fixtures" / "faces" / "portrait_female_02.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        clock = StageClock()
        models = SwapModels(store=ModelStore(models_root=models_root(Path(tmp), args.restore, args.heavy_swapper), allow_download=False))
        for detector in args.detector or list(DETECTORS):
            params = FaceswapParams(facedetection=detector, input_faces_index=args.faces,
                                    face_restore="GFPGANv1.4.pth", face_restore_weight=0.75 if args.restore else 0.0)
            # load every model and let torch / onnxruntime prepare for this frame size before the clock starts
            run(encoded[:2], size, source, params, models, StageClock(), pipelined=True)
            if detector == (args.detector or list(DETECTORS))[0]:
                instrument(models, params, clock)
            instrument_detector(models, params, clock)
            runs = {mode: best_run(args.repeats, encoded, size, source, params, models, clock, mode == "pipelined")
                    for mode in ("sequential", "pipelined")}
            identical = all(np.array_equal(a, b) for a, b in
                            zip(runs["sequential"][0].frames, runs["pipelined"][0].frames))
            report(detector, args.frames, runs, identical)


if __name__ == "__main__":
    main()
