"""The runtime choice per model role (pipeline/runtime/choice.py) for the provider lists each platform's
onnxruntime build reports, the user's forced runtime and precision, and the CUDA install mismatch warning."""

from __future__ import annotations

import pytest

from faceswap_v3.cli.main import main as cli_main
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.run_report import cpu_fallback_warning
from faceswap_v3.pipeline.runtime.choice import RuntimeUnavailable, choose, cuda_mismatch_warning
from faceswap_v3.pipeline.runtime.names import parse_runtime
from faceswap_v3.pipeline.runtime.openvino_session import import_openvino
from faceswap_v3.pipeline.runtime.platform import Platform, cpu_flags_bf16, detect_platform
from faceswap_v3.pipeline.runtime.providers import provider_list
from faceswap_v3.pipeline.runtime.trt_cache import engine_cache_dir, open_with_engine_cache

CPU = ("AzureExecutionProvider", "CPUExecutionProvider")
VERSIONS = {"torch": "2.14.1", "torch_cuda": "13.0", "onnxruntime": "1.32.0", "openvino": None}
# what each platform's onnxruntime build lists (get_available_providers) and torch's device there
NVIDIA_TRT = Platform("cuda:0", ("TensorrtExecutionProvider", "CUDAExecutionProvider", *CPU), cuda_provider_loads=True,
                      device_from_host=True, versions=VERSIONS)
NVIDIA = Platform("cuda:1", ("CUDAExecutionProvider", *CPU), cuda_provider_loads=True, versions=VERSIONS)
APPLE = Platform("mps", ("CoreMLExecutionProvider", *CPU), device_from_host=True)
WINDOWS_DML = Platform("privateuseone:0", ("DmlExecutionProvider", "CPUExecutionProvider"), device_from_host=True)
WINDOWS_DML_STANDALONE = Platform("cpu", ("DmlExecutionProvider", "CPUExecutionProvider"))
INTEL_GPU = Platform("xpu:0", CPU, openvino_devices=("CPU", "GPU"), cpu_bf16=False, device_from_host=True)
AMD_MIGRAPHX = Platform("cuda:0", ("MIGraphXExecutionProvider", "ROCMExecutionProvider", *CPU), rocm=True)
AMD_ROCM = Platform("cuda:0", ("ROCMExecutionProvider", *CPU), rocm=True)
CPU_BF16_OPENVINO = Platform("cpu", CPU, openvino_devices=("CPU",), cpu_bf16=True)
CPU_OLD_OPENVINO = Platform("cpu", CPU, openvino_devices=("CPU",), cpu_bf16=False)
CPU_BF16_NO_OPENVINO = Platform("cpu", CPU, cpu_bf16=True)


def name(role: str, platform: Platform, **environ: str) -> str:
    return choose(role, platform, {f"FACESWAP_V3_{k.upper()}": v for k, v in environ.items()}).name


@pytest.mark.parametrize("platform, expected", [
    (NVIDIA_TRT, "tensorrt:cuda:0:fp32"),  # fp16 is not yet shown within the drift bound there: forced only
    (NVIDIA, "onnxruntime:cuda:1:fp32"),
    (APPLE, "coreml:fp32"),
    (WINDOWS_DML, "directml:0:fp32"),
    (WINDOWS_DML_STANDALONE, "directml:0:fp32"),
    (INTEL_GPU, "openvino:GPU:fp32"),
    (AMD_MIGRAPHX, "migraphx:0:fp32"),
    (AMD_ROCM, "rocm:0:fp32"),
    (CPU_BF16_OPENVINO, "openvino:CPU:bf16"),
    (CPU_OLD_OPENVINO, "onnxruntime:cpu:fp32"),
    (Platform("cpu", CPU), "onnxruntime:cpu:fp32"),
])
def test_auto_runs_the_swapper_on_each_platforms_accelerator(platform, expected):
    assert name("swap", platform) == expected


def test_auto_uses_openvino_on_the_cpu_only_where_measured_faster_and_says_why_without_bf16_units():
    assert name("recognize", CPU_BF16_OPENVINO) == "openvino:CPU:bf16"
    assert name("detect", CPU_BF16_OPENVINO) == "openvino:CPU:fp32"  # bf16 past the bound, f32 faster
    for role in ("genderage", "mask"):
        assert name(role, CPU_BF16_OPENVINO) == "onnxruntime:cpu:fp32"
    assert name("detect", CPU_OLD_OPENVINO) == "openvino:CPU:fp32"
    for role in ("swap", "recognize"):
        old = choose(role, CPU_OLD_OPENVINO, {})
        assert old.name == "onnxruntime:cpu:fp32" and "no BF16 units" in old.why
    assert choose("swap", CPU_BF16_OPENVINO, {}).probe and not choose("detect", CPU_BF16_OPENVINO, {}).probe
    assert "pip install openvino" in choose("swap", CPU_BF16_NO_OPENVINO, {}).why
    assert choose("detect", CPU_BF16_NO_OPENVINO, {}).why == ""


def test_the_host_choosing_the_cpu_keeps_the_gpu_builds_providers_unused():
    comfy_cpu = Platform("cpu", ("DmlExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider"),
                         device_from_host=True)
    assert name("swap", comfy_cpu) == "onnxruntime:cpu:fp32"


def test_forced_runtime_and_precision_per_role_and_for_all():
    assert name("swap", NVIDIA_TRT, runtime="tensorrt:fp16") == "tensorrt:cuda:0:fp16"
    assert name("swap", NVIDIA_TRT, runtime="onnxruntime") == "onnxruntime:cuda:0:fp32"
    assert name("swap", NVIDIA_TRT, runtime="onnxruntime:cpu") == "onnxruntime:cpu:fp32"
    assert name("swap", NVIDIA_TRT, precision="fp16") == "tensorrt:cuda:0:fp16"
    assert name("swap", CPU_BF16_OPENVINO, precision="fp32") == "onnxruntime:cpu:fp32"
    assert name("detect", CPU_BF16_OPENVINO, precision="bf16") == "openvino:CPU:bf16"
    setting = "swap=openvino:CPU:bf16, onnxruntime:cpu"
    assert name("swap", CPU_BF16_OPENVINO, runtime=setting) == "openvino:CPU:bf16"
    assert name("recognize", CPU_BF16_OPENVINO, runtime=setting) == "onnxruntime:cpu:fp32"
    assert name("mask", INTEL_GPU, runtime="openvino:GPU:fp16") == "openvino:GPU:fp16"
    assert name("swap", AMD_MIGRAPHX, runtime="migraphx:fp16") == "migraphx:0:fp16"


@pytest.mark.parametrize("runtime, platform, wanted, install", [
    ("tensorrt", Platform("cpu", CPU), "tensorrt:cuda:0", "pip install onnxruntime-gpu tensorrt"),
    ("onnxruntime:cuda:0", Platform("cpu", CPU), "onnxruntime:cuda:0", "pip install onnxruntime-gpu"),
    ("openvino", Platform("cpu", CPU), "openvino:CPU", "pip install openvino"),
    ("openvino:GPU", CPU_BF16_OPENVINO, "openvino:GPU", "pip install openvino"),
    ("coreml", Platform("cpu", CPU), "coreml", "onnxruntime for macOS"),
    ("directml:1", Platform("cpu", CPU), "directml:1", "pip install onnxruntime-directml"),
    ("migraphx", AMD_ROCM, "migraphx:0", "onnxruntime-rocm"),
])
def test_a_forced_runtime_that_is_missing_is_one_line_naming_it_and_what_to_install(runtime, platform, wanted,
                                                                                    install):
    with pytest.raises(RuntimeUnavailable) as error:
        choose("swap", platform, {"FACESWAP_V3_RUNTIME": runtime})
    message = str(error.value)
    assert "\n" not in message and f"runtime {wanted} " in message and install in message


def test_a_precision_the_runtime_or_cpu_cannot_run_is_refused_naming_the_valid_ones():
    with pytest.raises(RuntimeUnavailable, match="bf16 asked for on onnxruntime:cpu .* one of fp32 or auto"):
        choose("swap", CPU_BF16_OPENVINO, {"FACESWAP_V3_RUNTIME": "onnxruntime:cpu:bf16"})
    with pytest.raises(RuntimeUnavailable, match="no BF16 units.* one of fp32, fp16 or auto"):
        choose("swap", CPU_OLD_OPENVINO, {"FACESWAP_V3_RUNTIME": "openvino", "FACESWAP_V3_PRECISION": "bf16"})
    with pytest.raises(RuntimeUnavailable, match="no runtime here runs swap in bf16"):
        choose("swap", Platform("cpu", CPU, cpu_bf16=True), {"FACESWAP_V3_PRECISION": "bf16"})


@pytest.mark.parametrize("setting, value", [("RUNTIME", "gpu"), ("RUNTIME", "openvino:NPU"), ("RUNTIME", "cuda"),
                                            ("RUNTIME", "tensorrt:cuda:0:int8"), ("PRECISION", "int8"),
                                            ("RUNTIME", "faces=onnxruntime")])
def test_an_unknown_name_is_refused_in_one_line_listing_the_valid_ones(setting, value):
    with pytest.raises(BadInput) as error:
        choose("swap", CPU_BF16_OPENVINO, {f"FACESWAP_V3_{setting}": value})
    message = str(error.value)
    assert "\n" not in message and repr(value.split("=")[0] if "=" in value else value) in message
    assert "valid: " in message and ("openvino[:CPU|:GPU]" in message or "fp32, fp16, bf16" in message
                                     or "swap" in message)


def test_the_cli_refuses_an_unknown_runtime_flag_in_one_line_with_status_2(capsys):
    assert cli_main(["--runtime", "gpu", "detect", "x.png"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown runtime 'gpu'" in err and "tensorrt[:cuda[:N]]" in err
    assert cli_main(["--precision", "int4", "detect", "x.png"]) == 2
    assert "unknown precision 'int4'; valid: fp32, fp16, bf16" in capsys.readouterr().err


def test_runtime_names_parse_device_and_precision():
    assert parse_runtime("tensorrt:cuda:1:fp16") == parse_runtime("TensorRT:CUDA:1:FP16")
    assert (parse_runtime("tensorrt:cuda:1:fp16").device, parse_runtime("tensorrt:cuda:1:fp16").precision) == \
        ("cuda:1", "fp16")
    assert parse_runtime("openvino:gpu").device == "GPU" and parse_runtime("auto:bf16").precision == "bf16"


def test_cuda_mismatch_warning_names_the_versions_that_match():
    cpu_build = Platform("cuda:0", CPU, versions=VERSIONS)
    warning = cuda_mismatch_warning(cpu_build)
    assert "\n" not in warning and "torch 2.14.1 sees CUDA 13.0" in warning and "onnxruntime 1.32.0" in warning
    assert "has no CUDAExecutionProvider" in warning and "onnxruntime-gpu built for CUDA 13" in warning
    cuda12_beside_13 = Platform("cuda:0", ("CUDAExecutionProvider", *CPU), cuda_provider_loads=False,
                                versions={**VERSIONS, "torch_cuda": "12.8"})
    warning = cuda_mismatch_warning(cuda12_beside_13)
    assert "could not load it" in warning and "CUDA 12 (cuDNN 9)" in warning
    assert name("swap", cuda12_beside_13) == "onnxruntime:cpu:fp32"  # not a CUDA session that falls back silently
    for fine in (NVIDIA_TRT, NVIDIA, AMD_ROCM, APPLE, Platform("cpu", CPU, versions=VERSIONS)):
        assert cuda_mismatch_warning(fine) is None


def test_provider_options_per_platform(tmp_path):
    model = tmp_path / "inswapper_128.onnx"
    trt = provider_list(choose("swap", NVIDIA_TRT, {"FACESWAP_V3_PRECISION": "fp16"}), model)
    assert [p for p, _ in trt] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    options = trt[0][1]
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"].startswith(str(tmp_path / ".tensorrt_engines"))
    assert options["trt_engine_cache_prefix"] == "inswapper_128"
    assert provider_list(choose("swap", NVIDIA_TRT, {}), model)[0][1]["trt_fp16_enable"] is False
    assert provider_list(choose("swap", NVIDIA, {}))[0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert provider_list(choose("swap", APPLE, {}))[0][1]["ModelFormat"] == "MLProgram"
    assert provider_list(choose("swap", WINDOWS_DML, {}))[0] == ("DmlExecutionProvider", {"device_id": 0})
    assert provider_list(choose("swap", AMD_MIGRAPHX, {"FACESWAP_V3_PRECISION": "fp16"}))[0][1][
        "migraphx_fp16_enable"] is True
    assert provider_list(choose("swap", Platform("cpu", CPU), {})) == [("CPUExecutionProvider", {})]


def test_a_corrupt_tensorrt_engine_is_deleted_and_rebuilt_and_another_gpus_engines_are_never_read(tmp_path):
    """TensorRT cannot run here: the session opener stands in for onnxruntime's TensorRT provider, which reads
    the cached engine named by its prefix (and fails on a corrupt one) or builds and writes it."""
    model = tmp_path / "inswapper_128.onnx"
    folder = engine_cache_dir(model, tag="RTX_4090-sm89-trt10.9")
    opened = []

    def open_session():
        engine = folder / "inswapper_128_sm89.engine"
        if engine.exists() and engine.read_bytes() != b"ENGINE":
            raise RuntimeError("TensorRT EP could not deserialize engine from cache")
        engine.write_bytes(b"ENGINE")
        opened.append(engine)
        return "session"

    (folder / "inswapper_128_sm89.engine").write_bytes(b"\x00garbage")
    (folder / "other_model_sm89.engine").write_bytes(b"\x00kept")
    assert open_with_engine_cache(open_session, folder, "inswapper_128", model.name) == "session"
    assert (folder / "inswapper_128_sm89.engine").read_bytes() == b"ENGINE" and len(opened) == 1
    assert (folder / "other_model_sm89.engine").read_bytes() == b"\x00kept"
    assert engine_cache_dir(model, tag="A100-sm80-trt10.9") != folder  # another GPU: a folder of its own

    def broken():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):  # no engine cached: a real failure stays one
        open_with_engine_cache(broken, tmp_path / "empty", "inswapper_128", model.name)


def test_this_machines_platform_is_read_from_its_installs():
    import onnxruntime as ort

    platform = detect_platform("cpu")
    assert platform.providers == tuple(ort.get_available_providers())
    try:
        import_openvino()
    except ImportError:
        assert platform.openvino_devices is None
    else:
        assert "CPU" in platform.openvino_devices
    assert cpu_flags_bf16("flags\t: fpu sse avx512f avx512_bf16\n") and not cpu_flags_bf16("flags\t: fpu avx512f\n")


def test_cpu_fallback_names_the_models_on_the_cpu_whatever_their_runtime():
    runs_on = ["inswapper_128.onnx: openvino:CPU:bf16", "w600k_r50.onnx: onnxruntime:cpu:fp32 (fp32 kept, x)",
               "det.onnx: tensorrt:cuda:0:fp16", "GFPGANv1.4.pth: torch:cpu"]
    warning = cpu_fallback_warning(runs_on, gpu_present=True)
    assert "inswapper_128.onnx, w600k_r50.onnx, GFPGANv1.4.pth ran on the CPU" in warning


def test_restorers_run_on_openvino_only_where_auto_or_the_user_puts_them_there():
    from faceswap_v3.pipeline.runtime.choice import restore_choice

    assert restore_choice(CPU_BF16_OPENVINO, {}).name == "openvino:CPU:bf16"
    assert restore_choice(CPU_OLD_OPENVINO, {}).name == "openvino:CPU:fp32"
    assert restore_choice(Platform("cpu", CPU), {}) is None  # torch, as before
    assert restore_choice(NVIDIA_TRT, {}) is None and restore_choice(APPLE, {}) is None  # torch on the GPU
    assert restore_choice(CPU_BF16_OPENVINO, {"FACESWAP_V3_RUNTIME": "onnxruntime"}) is None
    assert restore_choice(CPU_BF16_OPENVINO, {"FACESWAP_V3_RUNTIME": "onnxruntime,restore=openvino:fp32"}).name == \
        "openvino:CPU:fp32"
    with pytest.raises(RuntimeUnavailable, match="runtime openvino:CPU .* install openvino .pip install openvino"):
        restore_choice(Platform("cpu", CPU), {"FACESWAP_V3_RUNTIME": "restore=openvino"})
