"""Benchmark: each ONNX model on onnxruntime fp32 (the CPU provider) against OpenVINO bf16 (this CPU's
AVX-512-BF16/AMX units) and, with --with-f32, OpenVINO f32: the runtimes take turns call by call (A B A B ...),
medians (min-max) per call, the per-round ratio to onnxruntime fp32 as median (min-max), and each output's
drift from fp32 in 8-bit levels of its range (pipeline/runtime/drift.py). `auto` uses bf16 only for the roles
where it wins and holds the bound (pipeline/runtime/choice.py, OPENVINO_CPU_AUTO).

    .venv/bin/python bench/runtime_speed.py --standins /tmp/standins [--repeats 7] [--models swapper_real,...]
        [--with-f32] [--restorer [GFPGAN,CodeFormer]]   (--models "" with --restorer: the restorers only)

Models: the realistic stand-ins (bench_common.py: swapper_real 174.6 GMACs, swapper_10g, arcface_r50 6.3 GMACs),
the real SCRFD-2.5G detector at 640 px and the real gender/age model from ../shared/models. Random weights:
speed and drift, never quality."""

from __future__ import annotations

import argparse
import os
import statistics

from bench_common import (SHARED, STANDIN_GMACS, add_standins_argument, interleaved, load_average, machine, spread,
                          standins_folder)

from faceswap_v3.pipeline.runtime.drift import drift, probe_feed  # noqa: E402
from faceswap_v3.pipeline.runtime.openvino_session import OpenVinoSession  # noqa: E402
from faceswap_v3.pipeline.runtime.platform import detect_platform  # noqa: E402
from faceswap_v3.pipeline.runtime.threads import available_cores  # noqa: E402

SHARED_MODELS = {"scrfd_2.5g": "scrfd_2.5g_bnkps.onnx", "genderage": "genderage_2018_wrapped.onnx"}
DEFAULT_MODELS = ("swapper_real", "swapper_10g", "arcface_r50", "scrfd_2.5g", "genderage")


def model_path(name: str, standins):
    if name in SHARED_MODELS:
        return SHARED / "models" / SHARED_MODELS[name]
    return standins / f"{name}.onnx"


def onnxruntime_session(path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def openvino_precisions(with_f32: bool) -> tuple[str, ...]:
    """bf16 (and f32 when asked) on a CPU with BF16 units; f32 alone on one without (OpenVINO would quietly run
    a bf16 request in f32 there)."""
    if not detect_platform("cpu").cpu_bf16:
        return ("fp32",)
    return ("bf16", "fp32") if with_f32 else ("bf16",)


def compare(name: str, path, repeats: int, with_f32: bool) -> None:
    cores = available_cores()
    sessions = {"onnxruntime:cpu:fp32": onnxruntime_session(path, cores)}
    image = sessions["onnxruntime:cpu:fp32"].get_inputs()[0].shape
    # an image input of open size is fixed to the probe's 640 px on OpenVINO, as the pack fixes it per frame size
    size = (640, 640) if len(image) == 4 and not all(isinstance(d, int) for d in image[2:]) else None
    for precision in openvino_precisions(with_f32):
        sessions[f"openvino:CPU:{precision}"] = OpenVinoSession(path, "CPU", precision, cores, input_size=size)
    feed = probe_feed(sessions["onnxruntime:cpu:fp32"].get_inputs())
    reference = sessions["onnxruntime:cpu:fp32"].run(None, feed)
    times = interleaved({where: (lambda s=s: s.run(None, feed)) for where, s in sessions.items()}, repeats)
    base = times["onnxruntime:cpu:fp32"]
    gmacs = STANDIN_GMACS.get(f"{name}.onnx")
    print(f"{name}{f' ({gmacs} GMACs)' if gmacs else ''}:")
    for where, values in times.items():
        line = f"  {where:22s} {spread(values, 1000)} ms"
        if where != "onnxruntime:cpu:fp32":
            ratios = [b / a for a, b in zip(base, values)]
            found = [drift(r, o) for r, o in zip(reference, sessions[where].run(None, feed))]
            line += (f"   ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                     f"   drift mean {max(d.mean_levels for d in found):.3f}, "
                     f"max {max(d.max_levels for d in found):.2f} levels")
        print(line, flush=True)


def face_crop():
    """The FFHQ-aligned 512 px crop of a real photo's face, as the restorers get it."""
    from shared_files import FACES

    from faceswap_v3.pipeline.geometry.align import ffhq_matrix, warp_crop
    from faceswap_v3.pipeline.analysis.detectors.scrfd import SCRFDDetector
    from faceswap_v3.pipeline.runtime.images import read_image_file

    rgb = read_image_file(FACES / "portrait_male_damon.jpg")
    face = SCRFDDetector(SHARED / "models" / "scrfd_2.5g_bnkps.onnx", providers=["CPUExecutionProvider"]).detect(rgb)[0]
    return warp_crop(rgb, ffhq_matrix(face.landmarks, 512), 512)[None]


def compare_restorer(architecture: str, standin_dir, repeats: int) -> None:
    """torch fp32 (the pack's restorer before) against OpenVINO f32 and bf16 on the exported network."""
    from restore_speed import restorer_checkpoint

    from faceswap_v3.pipeline.restore.restorer import Restorer
    from faceswap_v3.pipeline.runtime.drift import pixel_drift
    from faceswap_v3.pipeline.runtime.openvino_restorer import OpenVinoRestorer, to_uint8
    from faceswap_v3.pipeline.runtime.torch_export import export_restorer

    checkpoint = restorer_checkpoint(standin_dir, architecture)
    saved = os.environ.get("FACESWAP_V3_RUNTIME")
    os.environ["FACESWAP_V3_RUNTIME"] = "restore=onnxruntime"  # the torch restorer, as before
    restorer = Restorer(checkpoint, "cpu")
    if saved is None:
        del os.environ["FACESWAP_V3_RUNTIME"]
    else:
        os.environ["FACESWAP_V3_RUNTIME"] = saved
    exported = export_restorer(restorer.descriptor.model, architecture, checkpoint)
    cores = available_cores()
    crop = face_crop()
    runs = {"torch:cpu:fp32": lambda: restorer.restore_batch(crop, 0.5)}
    for precision in openvino_precisions(with_f32=True):
        ov = OpenVinoRestorer(OpenVinoSession(exported, "CPU", precision, cores), architecture)
        runs[ov.runs_on] = lambda ov=ov: to_uint8(ov.restore(crop))
    reference = runs["torch:cpu:fp32"]()
    times = interleaved(runs, repeats)
    base = times["torch:cpu:fp32"]
    print(f"{architecture} (real-size network, random weights), one 512 px face:")
    for where, values in times.items():
        line = f"  {where:22s} {spread(values, 1000)} ms"
        if where != "torch:cpu:fp32":
            ratios = [b / a for a, b in zip(base, values)]
            found = pixel_drift(reference, runs[where]())
            line += (f"   ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                     f"   restored crop drift {found.describe()}")
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_standins_argument(parser)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, of {DEFAULT_MODELS}")
    parser.add_argument("--with-f32", action="store_true", help="also OpenVINO f32 (to tell runtime from precision)")
    parser.add_argument("--restorer", nargs="?", const="GFPGAN,CodeFormer", default="",
                        help="also these restorers (real-size networks, random weights: GFPGAN, CodeFormer) on torch "
                        "fp32 against OpenVINO f32 and bf16 (their checkpoints are kept in <standins>/restorers)")
    args = parser.parse_args()
    platform = detect_platform("cpu")
    if platform.openvino_devices is None:
        raise SystemExit("OpenVINO is not installed: pip install openvino (the pack's [openvino] extra)")
    print(f"{machine()}, openvino {platform.versions['openvino']}, CPU BF16 units: {platform.cpu_bf16}"
          f"{'' if platform.cpu_bf16 else ' (so OpenVINO f32 only)'}; {args.repeats} interleaved calls per runtime")
    folder = standins_folder(args.standins)
    for architecture in filter(None, args.restorer.split(",")):
        compare_restorer(architecture.strip(), folder, args.repeats)
    if args.models:
        for name in args.models.split(","):
            compare(name.strip(), model_path(name.strip(), folder), args.repeats, args.with_f32)
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
