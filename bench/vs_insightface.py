"""Benchmark: the pack's frame path against the pipeline users already have (insightface's FaceAnalysis,
detection + recognition, then INSwapper.get with paste_back), with models that compute like the real ones,
on 1280x720 frames with one face; modes interleaved in one run, medians (min-max) and ratios.

    .venv/bin/python bench/vs_insightface.py [--standins DIR] [--swapper swapper_real.onnx] [--frames 4]
                                             [--repeats 2]

Both sides use the same files: SCRFD-2.5G (real), the realistic ArcFace R50 stand-in (~6.3 GMACs) and a
realistic swapper stand-in (swapper_real.onnx ~174.6 GMACs per call, or swapper_10g.onnx ~11 GMACs); see
bench_common.py for generating them. It also prints our run's wall time against the time its necessary
model calls took (detection per frame, the swapper per face, the recognizer once for the source): the
physical limit of a frame path is that sum."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from bench_common import (SHARED, STANDIN_GMACS, SessionTimer, add_standins_argument, interleaved, machine, model_of,
                          ratio, spread, standins_folder)

from faceswap_v3.pipeline.runtime.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.job import run_faceswap  # noqa: E402
from faceswap_v3.pipeline.models.store import ModelStore  # noqa: E402
from faceswap_v3.pipeline.swap_models import SwapModels  # noqa: E402
from faceswap_v3.pipeline.params import FaceswapParams  # noqa: E402

DETECTOR = "scrfd_2.5g_bnkps.onnx"


def clip(count: int) -> list[np.ndarray]:
    """count 1280x720 frames of one face, moving a few pixels per frame."""
    base = cv2.resize(read_image_file(SHARED / "fixtures" / "faces" / "hd_1920x1080_male.jpg"), (1280, 720),
                      interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(np.roll(base, 6 * k, axis=1)) for k in range(count)]


def link(target: Path, source: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)


def models_root(folder: Path, standins: Path, swapper: str) -> Path:
    link(folder / "facedetection" / DETECTOR, SHARED / "models" / DETECTOR)
    link(folder / "insightface" / "inswapper_128.onnx", standins / swapper)
    link(folder / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx", standins / "arcface_r50.onnx")
    # insightface's FaceAnalysis loads every model of one folder: detection and recognition only
    link(folder / "face_analysis" / "det.onnx", SHARED / "models" / DETECTOR)
    link(folder / "face_analysis" / "w600k_r50.onnx", standins / "arcface_r50.onnx")
    return folder


def insightface_pipeline(root: Path, source_rgb: np.ndarray):
    """FaceAnalysis(detection, recognition).get on each frame, INSwapper.get(paste_back=True) per face."""
    from insightface.app import FaceAnalysis
    from insightface.model_zoo import get_model

    providers = ["CPUExecutionProvider"]
    app = FaceAnalysis(name=str(root / "face_analysis"), providers=providers,
                       allowed_modules=["detection", "recognition"])
    app.prepare(ctx_id=0, det_size=(640, 640))
    swapper = get_model(str(root / "insightface" / "inswapper_128.onnx"), providers=providers)
    source_face = app.get(np.ascontiguousarray(source_rgb[:, :, ::-1]))[0]

    def run(frames: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for rgb in frames:
            bgr = np.ascontiguousarray(rgb[:, :, ::-1])
            for face in sorted(app.get(bgr), key=lambda f: -(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))[:1]:
                bgr = swapper.get(bgr, face, source_face, paste_back=True)
            out.append(bgr[:, :, ::-1])
        return out

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_standins_argument(parser)
    parser.add_argument("--swapper", default="swapper_real.onnx", choices=("swapper_real.onnx", "swapper_10g.onnx"))
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per mode")
    args = parser.parse_args()
    standins = standins_folder(args.standins)
    frames = clip(args.frames)
    source = read_image_file(SHARED / "fixtures" / "faces" / "portrait_female_02.jpg")
    print(f"{args.frames} frames 1280x720, one face; swapper {args.swapper} ({STANDIN_GMACS[args.swapper]} GMACs), "
          f"recognizer arcface_r50.onnx ({STANDIN_GMACS['arcface_r50.onnx']} GMACs), detector {DETECTOR}; "
          f"{machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = models_root(Path(tmp), standins, args.swapper)
        models = SwapModels(store=ModelStore(models_root=root, allow_download=False))
        params = FaceswapParams(facedetection=DETECTOR, face_restore_weight=0.0)
        theirs = insightface_pipeline(root, source)
        timer = SessionTimer().install(model_of)
        ours_model_time: list[float] = []

        def ours(measure: bool):
            def run():
                timer.reset()
                result = run_faceswap(source, frames, FaceswapParams(**{**params.to_mapping(),
                                                                       "measure_similarity": measure}), models)
                if not measure:
                    ours_model_time.append(timer.total())
                return result
            return run

        run_faceswap(source, frames[:1], params, models)  # load and warm every model once, untimed
        theirs(frames[:1])
        ours_model_time.clear()
        times = interleaved({"insightface": lambda: theirs(frames), "ours": ours(False),
                             "ours + similarity": ours(True)}, args.repeats, warmup=False)
    n = args.frames
    for name, values in times.items():
        print(f"  {name:18} {spread(values, 1e3 / n)} ms/frame   ratio to insightface "
              f"{ratio(values, times['insightface']):.2f}")
    walls, calls = times["ours"], ours_model_time
    print(f"  ours: wall / time in its model calls (detect, swap, the source's embedding) = "
          f"{spread([w / c for w, c in zip(walls, calls)], digits=3)}")


if __name__ == "__main__":
    main()
