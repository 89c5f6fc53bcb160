"""Stand-in model files with the exact interface of files we can't have here (inswapper_128,
ReSwapper, HyperSwap, XSeg, BiSeNet, ArcFace w600k_r50, GFPGAN, CodeFormer). They exercise loading and pre/post-processing only:
nothing measured with them says anything about swap or restoration quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def inswapper(path: Path, kind: str = "identity", colour=(0.0, 1.0, 0.0), seed: int = 0, size: int = 128,
              batch: int | None = 1, emap: bool = True, fp16: bool = False) -> Path:
    """inswapper_128's interface: target [1,3,128,128] RGB 0..1, source [1,512] latent -> [1,3,128,128];
    the [512,512] emap is the last initializer. size 256: ReSwapper 256's interface; batch None: a dynamic
    batch dimension; emap False (with size 256): HyperSwap's interface (RGB -1..1, normed embedding).

    identity: returns target. solid: returns one colour. latent: target shifted by a projection of the
    source, so the output depends on the embedding transform being applied exactly.
    fp16: like inswapper_128_fp16.onnx (ReActor's): float32 inputs and output, the graph computing in float16
    (Cast at both ends) and the emap stored as float16."""
    rng = np.random.default_rng(seed)
    n = batch if batch else "N"
    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, [n, 3, size, size])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, [n, 512])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [n, 3, size, size])
    emap_values = rng.standard_normal((512, 512)).astype(np.float32) / 22.6
    projection = numpy_helper.from_array(rng.standard_normal((512, 3)).astype(np.float32), "projection")
    shape = numpy_helper.from_array(np.array([-1, 3, 1, 1], np.int64), "shape")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    fill = numpy_helper.from_array(np.array(colour, np.float32).reshape(1, 3, 1, 1), "fill")
    initializers = [projection, shape, zero, fill]
    if emap:
        initializers.append(numpy_helper.from_array(emap_values.astype(np.float16 if fp16 else np.float32), "emap"))
    nodes = [
        helper.make_node("MatMul", ["source", "projection"], ["shift_flat"]),
        helper.make_node("Reshape", ["shift_flat", "shape"], ["shift"]),
    ]
    if fp16:  # the target through float16 and back, as a converted model's first and last Cast do
        nodes += [helper.make_node("Cast", ["target"], ["target16"], to=TensorProto.FLOAT16),
                  helper.make_node("Cast", ["target16"], ["target32"], to=TensorProto.FLOAT)]
    pixels = "target32" if fp16 else "target"
    if kind == "identity":
        nodes += [helper.make_node("Mul", ["shift", "zero"], ["nothing"]),
                  helper.make_node("Add", [pixels, "nothing"], ["output"])]
    elif kind == "solid":
        nodes += [helper.make_node("Mul", [pixels, "zero"], ["blank"]),
                  helper.make_node("Add", ["blank", "fill"], ["output"])]
    elif kind == "latent":
        nodes += [helper.make_node("Mul", ["shift", "fill"], ["scaled"]),
                  helper.make_node("Add", [pixels, "scaled"], ["output"])]
    else:
        raise ValueError(kind)
    graph = helper.make_graph(nodes, f"swapper_standin_{kind}", [target, source], [output], initializer=initializers)
    return _save(graph, path)


def hyperswap(path: Path, kind: str = "identity", colour=(-1.0, 1.0, -1.0), seed: int = 0) -> Path:
    """HyperSwap 1a/1b/1c 256's interface (FaceFusion's face_swapper): target [1,3,256,256] RGB in -1..1,
    source [1,512] normed ArcFace embedding, output [1,3,256,256] in -1..1; no emap."""
    return inswapper(path, kind, colour, seed, size=256, batch=1, emap=False)


def xseg(path: Path) -> Path:
    """XSeg's interface (FaceFusion's xseg_1/2/3): input [1,256,256,3] BGR 0..1 -> [1,256,256,1] in 0..1.
    The stand-in answers its first input channel (blue), so a BGR/RGB mix-up changes the mask."""
    data = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 256, 256, 3])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 256, 256, 1])
    starts, ends, axes = (numpy_helper.from_array(np.array(v, np.int64), n)
                          for v, n in (([0], "starts"), ([1], "ends"), ([3], "axes")))
    scale = numpy_helper.from_array(np.array([2.5], np.float32), "scale")
    nodes = [helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["blue"]),
             helper.make_node("Mul", ["blue", "scale"], ["output"])]
    return _save(helper.make_graph(nodes, "xseg_standin", [data], [out], initializer=[starts, ends, axes, scale]),
                 path)


def bisenet(path: Path, seed: int = 2) -> Path:
    """BiSeNet's interface (FaceFusion's bisenet_resnet_18/34): input [1,3,512,512] RGB ImageNet-normalised
    -> [1,19,512,512] class logits (here a random 1x1 convolution of the input)."""
    rng = np.random.default_rng(seed)
    data = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 512, 512])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 19, 512, 512])
    weights = numpy_helper.from_array(rng.standard_normal((19, 3, 1, 1)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(19).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["output"])]
    return _save(helper.make_graph(nodes, "bisenet_standin", [data], [out], initializer=[weights, bias]), path)


def arcface(path: Path, seed: int = 1, batch: int | str = 1) -> Path:
    """ArcFace w600k_r50's interface: input [1,3,112,112] -> embedding [1,512] (pooled projection); batch "N"
    gives both a batch axis of any size."""
    rng = np.random.default_rng(seed)
    data = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, 112, 112])
    out = helper.make_tensor_value_info("683", TensorProto.FLOAT, [batch, 512])
    weights = numpy_helper.from_array(rng.standard_normal((588, 512)).astype(np.float32), "w")
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["683"]),
    ]
    return _save(helper.make_graph(nodes, "arcface_standin", [data], [out], initializer=[weights]), path)


def wrong_interface(path: Path) -> Path:
    """A valid ONNX model that is not a swapper (one input, no emap)."""
    data = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])
    return _save(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "not_a_swapper", [data], [out]),
                 path)


def restorer_checkpoint(path: Path, architecture: str) -> Path:
    """A random-weight checkpoint with the state-dict layout spandrel detects as GFPGAN v1.3/1.4
    ("clean") or CodeFormer, saved as a plain .pth (params_ema, like the real files)."""
    import torch

    torch.manual_seed(0)
    if architecture == "GFPGAN":
        from spandrel.architectures.GFPGAN import GFPGAN

        net = GFPGAN()
    elif architecture == "CodeFormer":
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

        net = CodeFormer()
    else:
        raise ValueError(architecture)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": net.state_dict()}, path)
    return path


def arcface_content(path: Path, sigma: float = 3.0, seed: int = 3) -> Path:
    """ArcFace w600k_r50's interface ('input.1' [1,3,112,112] -> '683' [1,512]) whose embedding depends on
    the face crop's content smoothly: random Fourier features cos(W x + b) of the 8x8-pooled, mean-centred
    crop. Two embeddings' cosine approximates exp(-|x - x'|^2 / (2 sigma^2)): the same crop (or one a pixel
    off) scores near 1, a different face near 0. A stand-in for identity plumbing, never for recognition."""
    rng = np.random.default_rng(seed)
    data = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])
    out = helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])
    frequencies = numpy_helper.from_array((rng.standard_normal((588, 512)) / sigma).astype(np.float32), "w")
    phases = numpy_helper.from_array(rng.uniform(0, 2 * np.pi, 512).astype(np.float32), "b")
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("ReduceMean", ["flat"], ["level"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["flat", "level"], ["centred"]),
        helper.make_node("MatMul", ["centred", "w"], ["projected"]),
        helper.make_node("Add", ["projected", "b"], ["phase"]),
        helper.make_node("Cos", ["phase"], ["683"]),
    ]
    return _save(helper.make_graph(nodes, "arcface_content_standin", [data], [out],
                                   initializer=[frequencies, phases]), path)


def content_analyser(path: Path, model: str, flag_above: float = 0.5) -> Path:
    """FaceFusion's content analyser `model` (nsfw_1/2/3) with its exact interface: 'input' [1,3,S,S] (S 640,
    384, 448), output [1,9,8400] detection rows (nsfw_1) or [1,2] / [1,4] logits (nsfw_2 / nsfw_3). The
    stand-in flags an image (its score crosses FaceFusion's threshold) when the mean of red minus green,
    in 0..1 pixel units, is above flag_above: a magenta marker image flags, photos of people do not."""
    from faceswap_v3.pipeline.content_check.facefusion_nsfw import ANALYSERS
    from faceswap_v3.pipeline.content_check.thresholds import FACEFUSION_THRESHOLDS

    spec = ANALYSERS[model]
    # red - green of the normalised input, where raw red - green = flag_above on a grey level of 0.5
    cut = ((0.5 + flag_above / 2 - spec.mean[0]) / spec.std[0]) - ((0.5 - flag_above / 2 - spec.mean[1]) / spec.std[1])
    size, threshold = spec.size, FACEFUSION_THRESHOLDS[model]
    data = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])
    shapes = {"nsfw_1": [1, 9, 8400], "nsfw_2": [1, 2], "nsfw_3": [1, 4]}[model]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, shapes)
    # output = base + slot * (gain * (mean(red - green) - cut) + threshold): only `slot` carries the score
    slot = np.zeros(shapes, np.float32)
    if model == "nsfw_1":
        slot[:, 4:, :] = 1.0
    else:
        slot[0, 0 if model == "nsfw_2" else 2] = 1.0
    consts = {"r0": [0], "r1": [1], "g1": [2], "ch": [1], "cut": [cut], "gain": [4.0], "thr": [threshold]}
    initializers = [numpy_helper.from_array(np.array(v, np.int64 if k in ("r0", "r1", "g1", "ch") else np.float32),
                                            k) for k, v in consts.items()]
    initializers.append(numpy_helper.from_array(slot, "slot"))
    nodes = [
        helper.make_node("Slice", ["input", "r0", "r1", "ch"], ["red"]),
        helper.make_node("Slice", ["input", "r1", "g1", "ch"], ["green"]),
        helper.make_node("Sub", ["red", "green"], ["difference"]),
        helper.make_node("ReduceMean", ["difference"], ["level"], keepdims=0),
        helper.make_node("Sub", ["level", "cut"], ["above"]),
        helper.make_node("Mul", ["above", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "thr"], ["score"]),
        helper.make_node("Mul", ["slot", "score"], ["output"]),
    ]
    return _save(helper.make_graph(nodes, f"{model}_standin", [data], [out], initializer=initializers), path)


def content_analysers(folder: Path, flag_above: dict[str, float] | None = None) -> Path:
    """All three stand-ins in folder (a models/content_analyser/ folder); flag_above per model (default 0.5)."""
    for model in ("nsfw_1", "nsfw_2", "nsfw_3"):
        content_analyser(folder / f"{model}.onnx", model, (flag_above or {}).get(model, 0.5))
    return folder
