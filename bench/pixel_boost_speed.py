"""Benchmark: pixel boost and face masks at 1080p, printed as ratios from one run.

    .venv/bin/python bench/pixel_boost_speed.py [--repeats 3] [--swapper inswapper_128.onnx]

- time per face at each boost size against 128x128 (the model runs (boost/128)^2 times per face);
- our overhead outside model inference at 512x512 against the 16 model calls' time (goal: under 15%);
- each mask type's extra cost per face.

Without --swapper the model is a stand-in with inswapper_128's interface and a convolution stack of about
2.4 GMACs per call (the real inswapper_128 is heavier, so real overhead shares are smaller). The XSeg and
BiSeNet stand-ins are nearly free to run, so their rows measure our pre/post-processing only. Stand-ins
measure speed and geometry, never quality."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench"))

import standins  # noqa: E402
from shared_files import FACES, MODELS  # noqa: E402
from swap_speed import best_of  # noqa: E402

from faceswap_v3.pipeline.align import swap_matrix, warp_crop  # noqa: E402
from faceswap_v3.pipeline.detectors.scrfd import SCRFDDetector  # noqa: E402
from faceswap_v3.pipeline.face_masks import FaceMasker, MaskOptions, Occluder, Parser  # noqa: E402
from faceswap_v3.pipeline.images import read_image_file  # noqa: E402
from faceswap_v3.pipeline.pixel_boost import split_tiles  # noqa: E402
from faceswap_v3.pipeline.swap import swap_frame  # noqa: E402
from faceswap_v3.pipeline.onnx_swapper import OnnxSwapper  # noqa: E402


def heavy_swapper(path: Path) -> Path:
    """inswapper_128's interface (dynamic batch), output = target, after ~2.4 GMACs of convolutions."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, ["N", 3, 128, 128])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, ["N", 512])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 128, 128])
    inits, nodes, x = [], [], "target"
    for i, (cin, cout, stride) in enumerate([(3, 64, 2), (64, 256, 2), (256, 256, 1), (256, 256, 1),
                                             (256, 256, 1), (256, 256, 1)]):
        w = numpy_helper.from_array((rng.standard_normal((cout, cin, 3, 3)) * 0.01).astype(np.float32), f"w{i}")
        inits.append(w)
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[stride, stride]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        x = f"r{i}"
    inits += [numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
              numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "shape"),
              numpy_helper.from_array(rng.standard_normal((512, 512)).astype(np.float32) / 22.6, "emap")]
    nodes += [helper.make_node("ReduceMean", [x], ["pooled"], axes=[1, 2, 3], keepdims=1),
              helper.make_node("ReduceMean", ["source"], ["src"], axes=[1], keepdims=1),
              helper.make_node("Reshape", ["src", "shape"], ["src4"]),
              helper.make_node("Add", ["pooled", "src4"], ["both"]),
              helper.make_node("Mul", ["both", "zero"], ["nothing"]),
              helper.make_node("Add", ["target", "nothing"], ["output"])]
    model = helper.make_model(helper.make_graph(nodes, "heavy_standin", [target, source], [output], initializer=inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--swapper", type=Path, help="a real swapper .onnx instead of the stand-in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        swapper = OnnxSwapper(args.swapper or heavy_swapper(folder / "heavy_inswapper_128.onnx"))
        rgb = read_image_file(FACES / "hd_1920x1080_male.jpg")
        face = SCRFDDetector(MODELS / "scrfd_2.5g_bnkps.onnx").detect(rgb)[0]
        embedding = np.full(512, 1 / np.sqrt(512), np.float32)
        latent = swapper.latent(embedding)
        size = swapper.crop_size
        print(f"{swapper.name} on {swapper.runs_on}, 1920x1080, face {face.box[2] - face.box[0]:.0f} px wide; "
              f"batch dimension {'dynamic: one call per face' if swapper.interface.batch_dynamic else 'fixed'}")
        # overhead: the whole per-face pipeline with a stand-in whose inference is a single Add, minus that Add
        light = OnnxSwapper(standins.inswapper(folder / "identity_128.onnx", "identity", size=size, batch=None,
                                               emap=swapper.interface.uses_emap))
        print(f"{'pixel_boost':>12} {'model runs':>10} {'ms/face':>9} {'vs 128':>7} {'inference ms':>13} "
              f"{'overhead ms':>12} {'overhead %':>11}")
        base = None
        for boost in (128, 256, 384, 512, 768, 1024):
            if boost % size:
                continue
            tiles = split_tiles(warp_crop(rgb, swap_matrix(face.landmarks, boost), boost), size)
            inference = best_of(args.repeats, lambda: swapper.swap_tiles(tiles, latent))
            total = best_of(args.repeats, lambda: swap_frame(rgb, [(face, embedding)], swapper, boost))
            overhead = (best_of(args.repeats, lambda: swap_frame(rgb, [(face, embedding)], light, boost))
                        - best_of(args.repeats, lambda: light.swap_tiles(tiles, light.latent(embedding))))
            base = base or total
            print(f"{boost:>8}x{boost:<3} {len(tiles):>10} {total * 1e3:9.1f} {total / base:6.1f}x "
                  f"{inference * 1e3:13.1f} {overhead * 1e3:12.1f} {100 * overhead / inference:10.1f}%")
        occluder = Occluder(standins.xseg(folder / "xseg_1.onnx"))
        face_parser = Parser(standins.bisenet(folder / "bisenet_resnet_34.onnx"))
        boost = max(512, size)
        box_only = best_of(args.repeats, lambda: swap_frame(rgb, [(face, embedding)], light, boost))
        print(f"mask types at {boost}x{boost}: extra ms per face over box alone (pre/post-processing of the "
              f"stand-ins; add the real XSeg/BiSeNet inference), against the 16 model calls above:")
        sixteen = best_of(args.repeats, lambda: swapper.swap_tiles(
            split_tiles(warp_crop(rgb, swap_matrix(face.landmarks, boost), boost), size), latent))
        for types in (("box", "occlusion"), ("box", "region"), ("box", "occlusion", "region")):
            masker = FaceMasker(MaskOptions(types), occluder, face_parser)
            seconds = best_of(args.repeats, lambda: swap_frame(rgb, [(face, embedding)], light, boost, masker))
            extra = seconds - box_only
            print(f"  {'+'.join(types):22} {extra * 1e3:8.1f} ms  ({100 * extra / sixteen:.1f}% of the model calls)")


if __name__ == "__main__":
    main()
