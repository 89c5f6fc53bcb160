"""Benchmark for a GPU machine: frames per second of the whole job at 1280x720 and 1920x1080, swap only and
with restoration, and the share of the wall time spent outside model calls; it also says which of the
GPU paths ran (CUDA provider, IO binding, the fp16 inswapper, the restore batch, the paste-back of restored
faces on the GPU).

    .venv/bin/python bench/gpu.py [--standins DIR] [--swapper swapper_real.onnx] [--frames 16] [--repeats 2]
    .venv/bin/python bench/gpu.py --quick        # on a CPU: 1 frame, the ~11 GMACs swapper, one repeat

The swapper and recognizer are the realistic stand-ins (bench_common.py), the detector the real SCRFD-2.5G,
the restorer a real-size GFPGAN with random weights; one face per frame. To measure the fp16 path, put an
inswapper_128_fp16.onnx beside the swapper (--fp16 FILE links one in). Speed only, never quality."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench_common import (SHARED, STANDIN_GMACS, SessionTimer, add_standins_argument, interleaved, machine, model_of,
                          ratio, spread, standins_folder)

import standins  # noqa: E402
from faceswap_v3.pipeline.runtime.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.job import run_faceswap  # noqa: E402
from faceswap_v3.pipeline.models.store import ModelStore  # noqa: E402
from faceswap_v3.pipeline.swap_models import SwapModels  # noqa: E402
from faceswap_v3.pipeline.options import DEFAULTS, interpolation_flag  # noqa: E402
from faceswap_v3.pipeline.params import FaceswapParams  # noqa: E402
from faceswap_v3.pipeline.geometry.paste_torch import paste_device  # noqa: E402

DETECTOR = "scrfd_2.5g_bnkps.onnx"
SIZES = ((1280, 720), (1920, 1080))


def models_root(folder: Path, standin_dir: Path, swapper: str, fp16: Path | None) -> Path:
    links = {f"facedetection/{DETECTOR}": SHARED / "models" / DETECTOR,
             "insightface/inswapper_128.onnx": standin_dir / swapper,
             "insightface/models/buffalo_l/w600k_r50.onnx": standin_dir / "arcface_r50.onnx"}
    if fp16:
        links["insightface/inswapper_128_fp16.onnx"] = fp16
    for relative, source in links.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).symlink_to(source)
    standins.restorer_checkpoint(folder / "facerestore_models" / "GFPGANv1.4.pth", "GFPGAN")
    return folder


def clip(size: tuple[int, int], count: int) -> list[np.ndarray]:
    base = cv2.resize(read_image_file(SHARED / "fixtures" / "faces" / "hd_1920x1080_male.jpg"), size,
                      interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(np.roll(base, 6 * k, axis=1)) for k in range(count)]


class TorchTimer:
    """Wall time inside a torch module's forward (synchronised on CUDA so the time is the GPU's)."""

    def __init__(self, module) -> None:
        import torch

        self.seconds, self._began = 0.0, 0.0
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

        def start(*_):
            sync()
            self._began = time.perf_counter()

        def stop(*_):
            sync()
            self.seconds += time.perf_counter() - self._began

        module.register_forward_pre_hook(start)
        module.register_forward_hook(stop)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_standins_argument(parser)
    parser.add_argument("--swapper", default=None, choices=("swapper_real.onnx", "swapper_10g.onnx"),
                        help="default swapper_real.onnx (--quick: swapper_10g.onnx)")
    parser.add_argument("--frames", type=int, default=None, help="frames per run (default 16, --quick 1)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved runs per case (default 2, --quick 1)")
    parser.add_argument("--fp16", type=Path, help="an inswapper_128_fp16.onnx to offer (used on a GPU)")
    parser.add_argument("--quick", action="store_true", help="a short run that a CPU finishes in about a minute")
    args = parser.parse_args()
    swapper = args.swapper or ("swapper_10g.onnx" if args.quick else "swapper_real.onnx")
    frames_per_run = args.frames or (1 if args.quick else 16)
    repeats = args.repeats or (1 if args.quick else 2)
    standin_dir = standins_folder(args.standins)
    with tempfile.TemporaryDirectory() as tmp:
        models = SwapModels(store=ModelStore(models_root=models_root(Path(tmp), standin_dir, swapper, args.fp16),
                                             allow_download=False))
        loaded = models.swapper()
        restorer = models.restorer("GFPGANv1.4.pth")
        pasted_on = (f"on {restorer.device} (torch)"
                     if paste_device(restorer.device, interpolation_flag(DEFAULTS["interpolation"]))
                     else "by cv2 on the CPU")
        print(f"swapper {swapper} ({STANDIN_GMACS[swapper]} GMACs per face) as {loaded.name} on {loaded.runs_on}, "
              f"IO binding {'on' if loaded.io_device else 'off'}; restorer GFPGAN (real size, random weights) on "
              f"{restorer.runs_on}, {restorer.batch_size} face(s) per call, restored faces pasted back "
              f"{pasted_on}; detector {DETECTOR}; "
              f"torch {'cuda' if torch.cuda.is_available() else 'cpu'}; {machine()}")
        restore_clock = TorchTimer(restorer.descriptor.model)
        sessions = SessionTimer().install(model_of)
        source = read_image_file(SHARED / "fixtures" / "faces" / "portrait_female_02.jpg")
        print(f"{frames_per_run} frame(s) per run, one face, {repeats} interleaved run(s) per case")
        print(f"{'case':28} {'frames/s, median (min-max)':>30} {'outside model calls':>20}")
        for size in SIZES:
            frames = clip(size, frames_per_run)
            cases = {"swap only": FaceswapParams(facedetection=DETECTOR, face_restore_weight=0.0),
                     "swap + restore": FaceswapParams(facedetection=DETECTOR, face_restore="GFPGANv1.4.pth")}
            outside: dict[str, list[float]] = {name: [] for name in cases}

            def case(name: str):
                def go():
                    sessions.reset()
                    restore_clock.seconds = 0.0
                    began = time.perf_counter()
                    run_faceswap(source, frames, cases[name], models)
                    wall = time.perf_counter() - began
                    outside[name].append(max(0.0, 1 - (sessions.total() + restore_clock.seconds) / wall))
                return go

            for params in cases.values():
                run_faceswap(source, frames[:1], params, models)  # load and warm up at this size, untimed
            times = interleaved({name: case(name) for name in cases}, repeats, warmup=False)
            for name, values in times.items():
                fps = [frames_per_run / v for v in values]
                print(f"{f'{size[0]}x{size[1]} {name}':28} {spread(fps, digits=2):>30} "
                      f"{spread(outside[name], 100):>19}%")
            print(f"{'':28} restore costs {ratio(times['swap + restore'], times['swap only']):.2f}x the swap-only time")
        sessions.uninstall()


if __name__ == "__main__":
    main()
