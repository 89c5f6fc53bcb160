"""Real OpenVINO bf16 sessions on this CPU's BF16 units: the swapped 128 px crop and the recognizer's effect on
it stay within the drift bound against onnxruntime fp32 (mean <= 0.5, max <= 4 of 256 levels), `auto` uses bf16
where a model holds the bound and keeps fp32 (saying why) where it does not (skipped on a CPU without BF16 units).
The restorers (GFPGAN exported to ONNX, CodeFormer converted by OpenVINO from torch) run on OpenVINO on any CPU,
within the bound of torch fp32 on a real face's 512 px crop. Stand-ins with random weights:
tools/standins.py (the pack's interfaces) and shared/tools/realistic_standins.py (conv stacks that compute like
the real models, shrunk); they say nothing about swap quality."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import standins
from support import FACES, SHARED
from faceswap_v3.pipeline.geometry.align import arcface_matrix, warp_crop
from faceswap_v3.pipeline.analysis.detectors.scrfd import SCRFDDetector
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.swap.onnx_swapper import OnnxSwapper
from faceswap_v3.pipeline.analysis.recognition import Recognizer
from faceswap_v3.pipeline.runtime.drift import MAX_LEVELS, MEAN_LEVELS, VERDICTS_FILE, drift, pixel_drift
from faceswap_v3.pipeline.runtime.openvino_session import import_openvino
from faceswap_v3.pipeline.runtime.platform import detect_platform

try:
    import_openvino()  # with its telemetry off, as the pack imports it
except ImportError:
    pytest.skip("OpenVINO is not installed (pip install openvino: the [openvino] extra, which .ci/install includes)",
                allow_module_level=True)
# the bf16 tests; the restorers' and the telemetry's run on any CPU (auto runs the restorers on OpenVINO f32 there)
needs_bf16 = pytest.mark.skipif(not detect_platform("cpu").cpu_bf16,
                                reason="this CPU has no BF16 units (avx512_bf16/amx_bf16): auto keeps fp32 here")
DETECTOR = SHARED / "models" / "scrfd_2.5g_bnkps.onnx"
PHOTOS = ("portrait_male_damon.jpg", "portrait_female_02.jpg", "group_2faces_women_7242.jpg")


def realistic_standins():
    spec = importlib.util.spec_from_file_location("realistic_standins", SHARED / "tools" / "realistic_standins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def computing_swapper(path, div: int = 8):
    """realistic_standins' inswapper-layout conv stack (channels / div) whose output is target + 0.25 x the
    network's tanh image, so every output pixel carries the network's bf16 arithmetic (the original adds 0 x it)."""
    model = realistic_standins().swapper(div)
    graph = graph_nodes = model.graph
    final = graph_nodes.node[-1]
    nothing = next(n for n in graph.node if n.output[0] == final.input[1])
    pooled = next(n for n in graph.node if n.output[0] == nothing.input[0])
    graph.initializer.insert(0, numpy_helper.from_array(np.array([0.25], np.float32), "quarter"))
    graph.node.insert(len(graph.node) - 1, helper.make_node("Mul", [pooled.input[0], "quarter"], ["net_quarter"]))
    final.input[1] = "net_quarter"
    onnx.save(model, str(path))
    return path


def offset_swapper(path):
    """inswapper's interface with an output only fp32 keeps exact: target + 20 through a 1x1 convolution, a ReLU,
    then - 20 through another, so bf16's 8-bit mantissa rounds the raised values by ~20 / 512 (~10 levels)."""
    rng = np.random.default_rng(4)
    eye = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (eye, "w"), (np.full(3, 20, np.float32), "up"), (np.full(3, -20, np.float32), "down"),
        ((rng.standard_normal((512, 512)) / 22.6).astype(np.float32), "emap"))]
    nodes = [helper.make_node("Conv", ["target", "w", "up"], ["raised"]), helper.make_node("Relu", ["raised"], ["kept"]),
             helper.make_node("Conv", ["kept", "w", "down"], ["output"])]
    value = lambda name, shape: helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)  # noqa: E731
    graph = helper.make_graph(nodes, "offset", [value("target", [1, 3, 128, 128]), value("source", [1, 512])],
                              [value("output", [1, 3, 128, 128])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def crops():
    """128 px aligned crops of the faces in real photos, as the swapper gets them."""
    detector = SCRFDDetector(DETECTOR, providers=["CPUExecutionProvider"])
    out = []
    for name in PHOTOS:
        rgb = read_image_file(FACES / name)
        out += [warp_crop(rgb, arcface_matrix(face.landmarks, 128), 128) for face in detector.detect(rgb)[:2]]
    return np.stack(out)


def on(monkeypatch, runtime: str | None) -> None:
    if runtime is None:
        monkeypatch.delenv("FACESWAP_V3_RUNTIME", raising=False)
    else:
        monkeypatch.setenv("FACESWAP_V3_RUNTIME", runtime)


def swapped(monkeypatch, path, runtime, crops, embedding=None):
    on(monkeypatch, runtime)
    swapper = OnnxSwapper(path)
    embedding = np.random.default_rng(3).standard_normal(512).astype(np.float32) if embedding is None else embedding
    return swapper, swapper.swap_tiles(crops, swapper.latent(embedding / np.linalg.norm(embedding)))


@needs_bf16
@pytest.mark.parametrize("build", [lambda p: standins.inswapper(p, "latent", colour=(0.3, -0.3, 0.2)), computing_swapper],
                         ids=["latent-standin", "realistic-conv-stack"])
def test_the_bf16_swapped_crop_is_within_the_drift_bound_of_fp32(monkeypatch, tmp_path, crops, build):
    path = build(tmp_path / "inswapper_128.onnx")
    fp32_swapper, reference = swapped(monkeypatch, path, "onnxruntime:cpu", crops)
    bf16_swapper, candidate = swapped(monkeypatch, path, "openvino:CPU:bf16", crops)
    assert (fp32_swapper.runs_on, bf16_swapper.runs_on) == ("onnxruntime:cpu:fp32", "openvino:CPU:bf16")
    found = pixel_drift(reference, candidate)
    assert found.mean_levels <= MEAN_LEVELS and found.max_levels <= MAX_LEVELS, found.describe()
    assert not np.array_equal(reference, crops)  # the model changed the pixels: the bound is not trivially met


@needs_bf16
def test_the_bf16_recognizer_embedding_is_within_the_bound_of_fp32(monkeypatch, tmp_path):
    """realistic_standins' IResNet50-like recognizer (6.3 GMACs, random weights) on a real face: the bf16
    embedding against fp32's, in levels of its range (the probe's measure, drift.py), and its cosine."""
    path = tmp_path / "w600k_r50.onnx"
    onnx.save(realistic_standins().arcface(), str(path))
    rgb = read_image_file(FACES / PHOTOS[0])
    face = SCRFDDetector(DETECTOR, providers=["CPUExecutionProvider"]).detect(rgb)[0]
    embeddings = []
    for runtime, where in (("onnxruntime:cpu", "onnxruntime:cpu:fp32"), ("openvino:CPU:bf16", "openvino:CPU:bf16")):
        on(monkeypatch, runtime)
        recognizer = Recognizer(path)
        assert recognizer.runs_on == where
        embeddings.append(recognizer.embed(rgb, face))
    found = drift(*embeddings)
    assert found.mean_levels <= MEAN_LEVELS and found.max_levels <= MAX_LEVELS, found.describe()
    assert found.max_levels > 0 and float(embeddings[0] @ embeddings[1]) > 0.999


@needs_bf16
def test_auto_uses_bf16_where_the_model_holds_the_bound_and_remembers_the_verdict(monkeypatch, tmp_path, crops):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = computing_swapper(tmp_path / "inswapper_128.onnx", div=16)
    swapper, _ = swapped(monkeypatch, path, None, crops[:1])
    assert swapper.runs_on == "openvino:CPU:bf16"
    verdicts = json.loads((tmp_path / "cache" / "faceswap_v3" / VERDICTS_FILE).read_text())
    (key, (mean, largest)), = verdicts.items()
    assert str(path) in key and "openvino:CPU:bf16" in key and mean <= MEAN_LEVELS and largest <= MAX_LEVELS


@needs_bf16
def test_auto_keeps_fp32_for_a_model_past_the_bound_and_says_so(monkeypatch, tmp_path, crops, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = offset_swapper(tmp_path / "inswapper_128.onnx")
    forced, candidate = swapped(monkeypatch, path, "openvino:CPU:bf16", crops[:1])
    reference = swapped(monkeypatch, path, "onnxruntime:cpu", crops[:1])[1]
    assert pixel_drift(reference, candidate).max_levels > MAX_LEVELS  # forced bf16 really drifts on this model
    swapper, output = swapped(monkeypatch, path, None, crops[:1])
    assert swapper.runs_on.startswith("onnxruntime:cpu:fp32 (fp32 kept, bf16 drifted past the bound on this model")
    assert np.array_equal(output, reference)
    assert any("drifted past the bound" in record.getMessage() for record in caplog.records)
    again, _ = swapped(monkeypatch, path, None, crops[:1])  # the verdict is remembered, the answer the same
    assert again.runs_on == swapper.runs_on


def test_the_drift_measure_is_in_levels_of_the_reference_range():
    reference = np.linspace(-1, 1, 256, dtype=np.float32)
    assert drift(reference, reference).max_levels == 0
    found = drift(reference, reference + 2 / 255)  # one level of a -1..1 output is 2/255
    assert found.max_levels == pytest.approx(1.0, rel=1e-3) and found.mean_levels == pytest.approx(1.0, rel=1e-3)


@needs_bf16
def test_openvino_sessions_get_the_thread_budget_and_serve_insightface_models(monkeypatch):
    from faceswap_v3.pipeline.runtime.threads import INTRA_OP_SETTING

    on(monkeypatch, "openvino:CPU:bf16")
    monkeypatch.setenv(INTRA_OP_SETTING, "1")
    detector = SCRFDDetector(DETECTOR)
    assert detector.runs_on == "openvino:CPU:bf16"
    assert detector.model.session._compiled.get_property("INFERENCE_NUM_THREADS") == 1
    rgb = read_image_file(FACES / PHOTOS[2])
    faces = detector.detect(rgb)
    reference = SCRFDDetector(DETECTOR, providers=["CPUExecutionProvider"]).detect(rgb)
    assert len(faces) == len(reference) >= 2
    for face, ref in zip(faces, reference):
        assert np.abs(face.landmarks - ref.landmarks).max() < 1.5  # pixels, on a photo of 2 faces


def test_the_restorer_runs_on_openvino_within_the_bound_of_torch_on_a_real_512_crop(monkeypatch, tmp_path):
    """GFPGAN's real-size network (random weights) exported to ONNX and run by OpenVINO: bf16 where the probe crop
    holds the bound, else f32 saying why; either way the restored crop of a real face stays within the bound of
    torch fp32 (the route before)."""
    import torch

    from faceswap_v3.pipeline.geometry.align import ffhq_matrix
    from faceswap_v3.pipeline.restore.restorer import Restorer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    checkpoint = standins.restorer_checkpoint(tmp_path / "GFPGANv1.4.pth", "GFPGAN")
    rgb = read_image_file(FACES / PHOTOS[0])
    face = SCRFDDetector(DETECTOR, providers=["CPUExecutionProvider"]).detect(rgb)[0]
    crop = warp_crop(rgb, ffhq_matrix(face.landmarks, 512), 512)[None]
    on(monkeypatch, "restore=onnxruntime")  # any runtime but OpenVINO leaves a restorer on torch
    with torch.inference_mode():
        reference = Restorer(checkpoint, "cpu")
    assert reference.runs_on == "torch:cpu"
    on(monkeypatch, None)
    restorer = Restorer(checkpoint, "cpu")
    assert restorer.runs_on in ("openvino:CPU:bf16", "openvino:CPU:fp32") or restorer.runs_on.startswith(
        "openvino:CPU:fp32 (bf16 not used, its restored crop drifted past the bound (mean ")
    assert list((tmp_path / "cache" / "faceswap_v3" / "exports").glob("GFPGANv1.4-*-GFPGAN.onnx"))
    found = pixel_drift(reference.restore_batch(crop, 0.5), restorer.restore_batch(crop, 0.5))
    assert found.mean_levels <= MEAN_LEVELS and found.max_levels <= MAX_LEVELS, found.describe()


def test_codeformer_runs_on_openvino_within_the_bound_of_torch_at_each_fidelity(monkeypatch, tmp_path):
    """CodeFormer's real-size network (random weights) converted by OpenVINO straight from torch (its ONNX export
    failed), its fidelity an input of the converted model: at the default fidelity and at 1 the restored crop of a
    real face stays within the bound of torch fp32, and the two fidelities restore differently."""
    import torch

    from faceswap_v3.pipeline.geometry.align import ffhq_matrix
    from faceswap_v3.pipeline.options import DEFAULTS
    from faceswap_v3.pipeline.restore.restorer import Restorer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    checkpoint = standins.restorer_checkpoint(tmp_path / "codeformer-v0.1.0.pth", "CodeFormer")
    rgb = read_image_file(FACES / PHOTOS[0])
    face = SCRFDDetector(DETECTOR, providers=["CPUExecutionProvider"]).detect(rgb)[0]
    crop = warp_crop(rgb, ffhq_matrix(face.landmarks, 512), 512)[None]
    on(monkeypatch, "restore=onnxruntime")
    with torch.inference_mode():
        reference = Restorer(checkpoint, "cpu")
    assert reference.runs_on == "torch:cpu"
    on(monkeypatch, None)
    restorer = Restorer(checkpoint, "cpu")
    assert restorer.runs_on.startswith("openvino:CPU:")
    exported, = (tmp_path / "cache" / "faceswap_v3" / "exports").glob("codeformer-v0.1.0-*-CodeFormer.xml")
    assert exported.with_suffix(".bin").is_file()
    restored = {}
    for fidelity in (DEFAULTS["codeformer_fidelity"], 1.0):
        restored[fidelity] = restorer.restore_batch(crop, fidelity)
        found = pixel_drift(reference.restore_batch(crop, fidelity), restored[fidelity])
        assert found.mean_levels <= MEAN_LEVELS and found.max_levels <= MAX_LEVELS, f"{fidelity}: {found.describe()}"
    assert pixel_drift(*restored.values()).mean_levels > MEAN_LEVELS  # the fidelity reaches the converted model


def test_openvino_loads_with_its_usage_telemetry_off(tmp_path):
    """`import openvino` would send a usage event (and write a client id under ~/intel) unless opted out: the
    pack imports it with the telemetry's off switch, in a process with a home of its own here (any send
    attempt would go to a closed loopback proxy)."""
    import subprocess
    import sys

    path = standins.inswapper(tmp_path / "inswapper_128.onnx", "latent")
    code = ("from faceswap_v3.pipeline.runtime.openvino_session import OpenVinoSession, import_openvino; "
            f"import_openvino(); OpenVinoSession({str(path)!r}, 'CPU', 'bf16', 1); "
            "import openvino_telemetry, os; print(openvino_telemetry.Telemetry().consent, os.environ.get('CI'))")
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env.update(HOME=str(home), https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "None"]  # no consent, and the environment as it was
    assert not list(home.rglob("*")), [str(p) for p in home.rglob("*")]
