"""Benchmark: pixel boost and face masks at 1080p, medians (min-max) and ratios from one run, each case
interleaved with the model calls it needs.

    .venv/bin/python bench/pixel_boost_speed.py [--standins DIR] [--swapper swapper_10g.onnx] [--repeats 3]
                                                [--boosts 128,256,512]

- time per face at each boost size against the (boost/128)^2 swapper calls alone, same tiles, same run
  (goal at 512x512: within 1.1x of the 16 calls), and against 128x128;
- each mask type's extra cost per face.

The swapper is a realistic stand-in (bench_common.py): swapper_10g.onnx (~11 GMACs per call, default:
a 512x512 face is 16 calls) or swapper_real.onnx (~174.6 GMACs, inswapper_128's; minutes per case on a
CPU), both with inswapper's fixed batch of 1; --swapper also takes a path to a real file. The XSeg and
BiSeNet stand-ins are nearly free to run, so their rows measure our pre/post-processing only. Stand-ins
measure speed and geometry, never quality."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench_common import STANDIN_GMACS, add_standins_argument, interleaved, machine, ratio, spread, standins_folder

import standins  # noqa: E402
from shared_files import FACES, MODELS  # noqa: E402

from faceswap_v3.pipeline.geometry.align import swap_matrix, warp_crop  # noqa: E402
from faceswap_v3.pipeline.analysis.detectors.scrfd import SCRFDDetector  # noqa: E402
from faceswap_v3.pipeline.swap.face_masks import FaceMasker, MaskOptions, Occluder, Parser  # noqa: E402
from faceswap_v3.pipeline.runtime.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.swap.pixel_boost import split_tiles  # noqa: E402
from faceswap_v3.pipeline.swap.frame_swap import swap_frame  # noqa: E402
from faceswap_v3.pipeline.swap.onnx_swapper import OnnxSwapper  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_standins_argument(parser)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per case")
    parser.add_argument("--swapper", default="swapper_10g.onnx",
                        help="swapper_10g.onnx or swapper_real.onnx (realistic stand-ins), or a path to a swapper")
    parser.add_argument("--boosts", default="128,256,512")
    args = parser.parse_args()
    path = Path(args.swapper) if Path(args.swapper).is_file() else standins_folder(args.standins) / args.swapper
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        swapper = OnnxSwapper(path)
        rgb = read_image_file(FACES / "hd_1920x1080_male.jpg")
        face = SCRFDDetector(MODELS / "scrfd_2.5g_bnkps.onnx").detect(rgb)[0]
        embedding = np.full(512, 1 / np.sqrt(512), np.float32)
        latent = swapper.latent(embedding)
        size = swapper.crop_size
        gmacs = f" ({STANDIN_GMACS[path.name]} GMACs per call)" if path.name in STANDIN_GMACS else ""
        print(f"{swapper.name}{gmacs} on {swapper.runs_on}, 1920x1080, face {face.box[2] - face.box[0]:.0f} px wide; "
              f"batch dimension {'dynamic: one call per face' if swapper.interface.batch_dynamic else 'fixed'}; "
              f"{args.repeats} interleaved runs; {machine()}")
        print(f"{'pixel_boost':>12} {'model runs':>10} {'ms/face, median (min-max)':>30} "
              f"{'model calls alone ms':>28} {'face / calls':>12} {'vs 128':>7}")
        base = None
        for boost in (int(b) for b in args.boosts.split(",")):
            if boost % size:
                continue
            tiles = split_tiles(warp_crop(rgb, swap_matrix(face.landmarks, boost), boost), size)
            times = interleaved({"face": lambda: swap_frame(rgb, [(face, embedding)], swapper, boost),
                                 "calls": lambda: swapper.swap_tiles(tiles, latent)}, args.repeats)
            base = base or times["face"]
            print(f"{boost:>8}x{boost:<3} {len(tiles):>10} {spread(times['face'], 1e3):>30} "
                  f"{spread(times['calls'], 1e3):>28} {ratio(times['face'], times['calls']):11.3f}x "
                  f"{ratio(times['face'], base):6.1f}x")
        # masks: with a stand-in whose inference is a single Add, so the rows are our processing alone
        light = OnnxSwapper(standins.inswapper(folder / "identity_128.onnx", "identity", size=size, batch=None,
                                               emap=swapper.interface.uses_emap))
        occluder = Occluder(standins.xseg(folder / "xseg_1.onnx"))
        face_parser = Parser(standins.bisenet(folder / "bisenet_resnet_34.onnx"))
        boost = max(512, size)
        cases = {"box": FaceMasker(MaskOptions(("box",)))}
        cases.update({"+".join(types): FaceMasker(MaskOptions(types), occluder, face_parser)
                      for types in (("box", "occlusion"), ("box", "region"), ("box", "occlusion", "region"))})
        times = interleaved({name: (lambda m=masker: swap_frame(rgb, [(face, embedding)], light, boost, m))
                             for name, masker in cases.items()}, max(args.repeats, 5))
        print(f"mask types at {boost}x{boost}: extra ms per face over box alone (pre/post-processing of the "
              f"stand-ins; add the real XSeg/BiSeNet inference), median of {max(args.repeats, 5)}:")
        from statistics import median

        for name in list(cases)[1:]:
            print(f"  {name:22} {(median(times[name]) - median(times['box'])) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
