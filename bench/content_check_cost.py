"""Benchmark: what the content check costs per image and per megapixel, now that it judges every large image
in windows at the classifier's own scale (pipeline/content_check/views.py), against the one shrunk view it
used to judge. Medians (min-max) of interleaved runs, one process.

    .venv/bin/python bench/content_check_cost.py [--repeats 3] [--classifiers nudenet,facefusion]
                                                  [--sizes 1024x768,1920x1080,4352x2903,6000x600,8000x6000]

nudenet is the real package (its 320 px detector, on the CPU: the package picks its own providers).
facefusion is FaceFusion's three analysers as stand-ins with their exact interfaces but almost no compute:
its rows measure this pack's own work per view (cropping, shrinking, letterboxing, normalising) and the
number of views; the real analysers (a YOLO detector and two ViTs) cost far more per view. Each image is
a real photo (shared/fixtures/faces/large_4352x2903_female.jpg) scaled to the size; nothing it shows is
flagged, so every view is judged (a flagged image stops at its first flagged view)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench_common import interleaved, machine, spread

import standins  # noqa: E402
from shared_files import FACES  # noqa: E402

from faceswap_v3.pipeline.content_check import ContentCheck, load_check  # noqa: E402
from faceswap_v3.pipeline.content_check.check import bounded  # noqa: E402
from faceswap_v3.pipeline.content_check.facefusion_nsfw import ANALYSERS, FacefusionNsfw  # noqa: E402
from faceswap_v3.pipeline.runtime.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.models.store import ModelStore  # noqa: E402


def classifier(name: str, folder: Path) -> ContentCheck:
    if name == "nudenet":
        return load_check("nudenet", ModelStore(allow_download=False))
    standins.content_analysers(folder)
    return ContentCheck(FacefusionNsfw({key: folder / spec.file for key, spec in ANALYSERS.items()}))


def image_of_size(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """The photo scaled to cover width x height, cropped to it (a strip is a band of the photo)."""
    import cv2

    scale = max(width / photo.shape[1], height / photo.shape[0])
    scaled = cv2.resize(photo, (max(width, round(photo.shape[1] * scale)), max(height, round(photo.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (scaled.shape[0] - height) // 2, (scaled.shape[1] - width) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--classifiers", default="nudenet,facefusion")
    parser.add_argument("--sizes", default="1024x768,1920x1080,4352x2903,6000x600,8000x6000")
    args = parser.parse_args()
    photo = read_image_file(FACES / "large_4352x2903_female.jpg")
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    print(f"machine: {machine()}; {args.repeats} runs each, whole-image view and windows interleaved")
    print(f"{'classifier':<12} {'image':>10} {'MP':>6} {'views':>6} {'windows: s per image':>22} "
          f"{'s per MP':>18} {'one view: s':>18} {'x one view':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.classifiers.split(","):
            check = classifier(name, Path(folder))
            for width, height in sizes:
                image = image_of_size(photo, width, height)
                megapixels = width * height / 1e6
                times = interleaved({
                    "windows": lambda: check.verdict(image),
                    "one view": lambda: check.classifier.verdict(bounded(image, check.classifier.view_size)),
                }, args.repeats)
                windows, single = times["windows"], times["one view"]
                per_mp = [t / megapixels for t in windows]
                times_one = sorted(windows)[len(windows) // 2] / sorted(single)[len(single) // 2]
                print(f"{name:<12} {f'{width}x{height}':>10} {megapixels:>6.1f} {check.views(image):>6} "
                      f"{spread(windows, digits=2):>22} {spread(per_mp, digits=3):>18} {spread(single, digits=3):>18} "
                      f"{times_one:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
