"""Benchmark: the whole frame path with a face restorer on, the pack's default runtimes (`auto`) against
today's pack in fp32 everywhere (FACESWAP_V3_RUNTIME=onnxruntime: every ONNX model on onnxruntime fp32 with its
threads spinning after each call as before, the restorer on torch fp32), 1280x720, one face; the two take turns
run by run (A B A B ...), medians (min-max), the ratio of medians and each round's ratio as median (min-max).

    .venv/bin/python bench/restore_speed.py [--standins DIR] [--swapper swapper_real.onnx] [--frames 1]
                                            [--repeats 5] [--restorer GFPGAN|CodeFormer] [--noise]

The swapper and recognizer are the realistic stand-ins (bench_common.py), the detector the real SCRFD-2.5G,
the restorer a real-size GFPGAN v1.4 (or CodeFormer) with random weights, written once as
<standins>/restorers/<name>.pth so that its OpenVINO export (pipeline/runtime/torch_export.py, kept in the user
cache by the checkpoint's size and time) is made once, not at every run. --noise adds the default path a second
time: its ratio to the first is the bench's own noise. The issue's goal: with GFPGAN 1.4 on, the default path
<= 0.5x today's pack. Speed only, never quality."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench_common import (STANDIN_GMACS, add_standins_argument, interleaved, load_average, machine, ratio,
                          round_ratios, spread, standins_folder)
from vs_insightface import DETECTOR, SHARED, clip, models_root, our_models

import standins  # noqa: E402
from faceswap_v3.pipeline.job import run_faceswap  # noqa: E402
from faceswap_v3.pipeline.params import FaceswapParams  # noqa: E402
from faceswap_v3.pipeline.runtime.images import read_image_file  # noqa: E402

CHECKPOINTS = {"GFPGAN": "GFPGANv1.4.pth", "CodeFormer": "codeformer-v0.1.0.pth"}


def restorer_checkpoint(standin_dir: Path, architecture: str) -> Path:
    """The real-size random-weight checkpoint kept beside the stand-ins (made the first time)."""
    path = standin_dir / "restorers" / CHECKPOINTS[architecture]
    return path if path.is_file() else standins.restorer_checkpoint(path, architecture)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_standins_argument(parser)
    parser.add_argument("--swapper", default="swapper_real.onnx", choices=("swapper_real.onnx", "swapper_10g.onnx"))
    parser.add_argument("--frames", type=int, default=1, help="frames per run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs per mode")
    parser.add_argument("--restorer", default="GFPGAN", choices=tuple(CHECKPOINTS))
    parser.add_argument("--noise", action="store_true", help="also the default path a second time (the noise)")
    args = parser.parse_args()
    standin_dir = standins_folder(args.standins)
    checkpoint = restorer_checkpoint(standin_dir, args.restorer)
    frames = clip(args.frames)
    source = read_image_file(SHARED / "fixtures" / "faces" / "portrait_female_02.jpg")
    params = FaceswapParams(facedetection=DETECTOR, face_restore=checkpoint.name)
    print(f"{args.frames} frame(s) 1280x720 per run, one face, restore {args.restorer} (real size, random weights) "
          f"at weight {params.face_restore_weight}, {args.repeats} interleaved runs per mode; swapper {args.swapper} "
          f"({STANDIN_GMACS[args.swapper]} GMACs), detector {DETECTOR}; {machine()}", flush=True)
    baseline = "today's pack (fp32)"
    variants = {baseline: "onnxruntime", "ours (default)": None}
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for k, (name, runtime) in enumerate(variants.items()):
            root = models_root(Path(tmp) / str(k), standin_dir, args.swapper)
            (root / "facerestore_models").mkdir()
            (root / "facerestore_models" / checkpoint.name).symlink_to(checkpoint)
            models[name] = our_models(name, root, runtime, source, frames[0], params, spinning=name == baseline)
        modes = {name: (lambda m=m: run_faceswap(source, frames, params, m)) for name, m in models.items()}
        if args.noise:
            modes["ours (default) again"] = modes["ours (default)"]
        times = interleaved(modes, args.repeats, warmup=False)
    base = times[baseline]
    print(f"  {'mode':22} {'ms/frame, median (min-max)':>28}  {'/ fp32':>7}  {'per round, median (min-max)':>28}")
    for name, values in times.items():
        print(f"  {name:22} {spread(values, 1e3 / args.frames):>28}  {ratio(values, base):7.2f}  "
              f"{round_ratios(values, base) if values is not base else '':>28}")
    if args.noise:
        print(f"  noise, ours (default) again / ours (default): "
              f"{ratio(times['ours (default) again'], times['ours (default)']):.2f}, per round "
              f"{round_ratios(times['ours (default) again'], times['ours (default)'])}")
    print(f"  goal: ours (default) / today's pack (fp32) <= 0.5 with GFPGAN 1.4 on (read "
          f"{ratio(times['ours (default)'], base):.2f}); load average at the end {load_average()}")


if __name__ == "__main__":
    main()
