"""Benchmark: our swap pipeline outside model inference vs insightface's INSwapper.get(paste_back=True),
with the same identity stand-in swapper (inswapper_128's interface) in the same run, interleaved, medians
(min-max); and restore time per face with real-size GFPGAN / CodeFormer networks holding random weights.

    .venv/bin/python bench/swap_speed.py [--repeats 5] [--skip-restore]

The identity stand-in costs next to nothing to run, on purpose: what is left is each side's own work
around the model (align, paste-back), which is what this compares. For whole frames with models that
compute like the real ones, see vs_insightface.py. Stand-ins: speed and geometry, never swap quality."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from statistics import median

import numpy as np

from bench_common import interleaved, machine, spread

import standins  # noqa: E402
from shared_files import FACES, MODELS  # noqa: E402

from faceswap_v3.pipeline.geometry.align import arcface_matrix, warp_crop  # noqa: E402
from faceswap_v3.pipeline.analysis.detectors.scrfd import SCRFDDetector  # noqa: E402
from faceswap_v3.pipeline.runtime.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.swap.frame_swap import swap_frame  # noqa: E402
from faceswap_v3.pipeline.swap.onnx_swapper import OnnxSwapper  # noqa: E402


def bench_swap(folder: Path, repeats: int) -> None:
    from insightface.app.common import Face as InsightFace
    from insightface.model_zoo import get_model

    model_path = standins.inswapper(folder / "inswapper_128.onnx", "identity")
    ours, theirs = OnnxSwapper(model_path), get_model(str(model_path))
    detector = SCRFDDetector(MODELS / "scrfd_2.5g_bnkps.onnx")
    embedding = np.full(512, 1 / np.sqrt(512), np.float32)
    print(f"{machine()}; {repeats} interleaved runs; ms per face outside inference, median (min-max)")
    print(f"{'image':32} {'ours ms':>18} {'insightface ms':>20} {'inference ms':>13} {'speed-up':>9}")
    for name in ("hd_1920x1080_male.jpg", "large_4352x2903_female.jpg"):
        rgb = read_image_file(FACES / name)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = detector.detect(rgb)[0]
        target = InsightFace(bbox=np.asarray(face.box), kps=face.landmarks)
        source = InsightFace(bbox=np.asarray(face.box), kps=face.landmarks)
        source["embedding"] = embedding
        crop = warp_crop(rgb, arcface_matrix(face.landmarks, 128), 128)
        latent = ours.latent(embedding)
        times = interleaved({"inference": lambda: ours.swap_tiles(crop[None], latent)[0],
                             "ours": lambda: swap_frame(rgb, [(face, embedding)], ours),
                             "theirs": lambda: theirs.get(bgr, target, source, paste_back=True)}, repeats)
        inference = median(times["inference"])
        ours_ms, theirs_ms = ([t - inference for t in times[side]] for side in ("ours", "theirs"))
        print(f"{name:32} {spread(ours_ms, 1e3):>18} {spread(theirs_ms, 1e3):>20} {inference * 1e3:13.1f} "
              f"{median(theirs_ms) / median(ours_ms):8.1f}x")


def bench_restore(folder: Path) -> None:
    from faceswap_v3.pipeline.restore.restorer import Restorer

    crop = read_image_file(FACES / "portrait_male_damon.jpg")[100:612, 44:556].copy()
    for name, arch in (("GFPGANv1.4.pth", "GFPGAN"), ("codeformer-v0.1.0.pth", "CodeFormer")):
        restorer = Restorer(standins.restorer_checkpoint(folder / name, arch))
        seconds = interleaved({arch: lambda: restorer.restore_batch(crop[None], 0.5)}, 2)[arch]
        print(f"restore one 512x512 face, {arch} (real size, random weights): {spread(seconds, digits=2)} s on "
              f"{restorer.runs_on}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-restore", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_swap(Path(tmp), args.repeats)
        if not args.skip_restore:
            bench_restore(Path(tmp))


if __name__ == "__main__":
    main()
