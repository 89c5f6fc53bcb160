"""Benchmark: our swap pipeline outside model inference vs insightface's INSwapper.get(paste_back=True),
with the same identity stand-in swapper (inswapper_128's interface) in the same run; and restore time
per face with real-size GFPGAN / CodeFormer networks holding random weights.

    .venv/bin/python bench/swap_speed.py [--repeats 5] [--skip-restore]

Stand-in models: the numbers measure pre/post-processing and paste-back, not swap quality."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import standins  # noqa: E402
from shared_files import FACES, MODELS  # noqa: E402

from faceswap_v3.pipeline.align import arcface_matrix, warp_crop  # noqa: E402
from faceswap_v3.pipeline.detectors.scrfd import SCRFDDetector  # noqa: E402
from faceswap_v3.pipeline.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.swap import swap_frame  # noqa: E402
from faceswap_v3.pipeline.onnx_swapper import InSwapper  # noqa: E402


def best_of(repeats: int, fn) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_swap(folder: Path, repeats: int) -> None:
    from insightface.app.common import Face as InsightFace
    from insightface.model_zoo import get_model

    model_path = standins.inswapper(folder / "inswapper_128.onnx", "identity")
    ours, theirs = InSwapper(model_path), get_model(str(model_path))
    detector = SCRFDDetector(MODELS / "scrfd_2.5g_bnkps.onnx")
    embedding = np.full(512, 1 / np.sqrt(512), np.float32)
    print(f"{'image':32} {'ours ms':>9} {'insightface ms':>15} {'inference ms':>13} {'speed-up':>9}")
    for name in ("hd_1920x1080_male.jpg", "large_4352x2903_female.jpg"):
        rgb = read_image_file(FACES / name)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = detector.detect(rgb)[0]
        target = InsightFace(bbox=np.asarray(face.box), kps=face.landmarks)
        source = InsightFace(bbox=np.asarray(face.box), kps=face.landmarks)
        source["embedding"] = embedding
        crop = warp_crop(rgb, arcface_matrix(face.landmarks, 128), 128)
        latent = ours.latent(embedding)
        inference = best_of(repeats, lambda: ours.swap_crop(crop, latent))
        total_ours = best_of(repeats, lambda: swap_frame(rgb, [(face, embedding)], ours))
        total_theirs = best_of(repeats, lambda: theirs.get(bgr, target, source, paste_back=True))
        ours_ms, theirs_ms = (total_ours - inference) * 1e3, (total_theirs - inference) * 1e3
        print(f"{name:32} {ours_ms:9.1f} {theirs_ms:15.1f} {inference * 1e3:13.1f} {theirs_ms / ours_ms:8.1f}x")


def bench_restore(folder: Path) -> None:
    from faceswap_v3.pipeline.restore import Restorer

    crop = read_image_file(FACES / "portrait_male_damon.jpg")[100:612, 44:556].copy()
    for name, arch in (("GFPGANv1.4.pth", "GFPGAN"), ("codeformer-v0.1.0.pth", "CodeFormer")):
        restorer = Restorer(standins.restorer_checkpoint(folder / name, arch))
        seconds = best_of(2, lambda: restorer.restore(crop, 0.5))
        print(f"restore one 512x512 face, {arch} (real size, random weights): {seconds:.2f} s on {restorer.runs_on}")


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
