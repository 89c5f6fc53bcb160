"""SwapFaces, RestoreFace and the all-in-one Faceswap V3 node called as ComfyUI calls them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support import FACES
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.job import run_faceswap
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.runtime.onnx_session import runtime_for

DETECTOR = "scrfd_2.5g_bnkps.onnx"
API = {
    "input_faces_index": ("0", None),
    "source_faces_index": ("0", None),
    "face_restore": ("codeformer-v0.1.0.pth", ["codeformer-v0.1.0.pth", "GFPGANv1.4.pth", "GFPGANv1.3.pth"]),
    "interpolation": ("Bilinear", ["Nearest", "Bilinear", "Bicubic", "Lanczos"]),
    "detection_face_order": ("large-small", ["large-small", "small-large", "top-bottom", "bottom-top",
                                             "left-right", "right-left"]),
    "facedetection": ("retinaface_resnet50", ["retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n"]),
    "detect_gender_input": ("no", ["no", "female", "male"]),
    "detect_gender_source": ("no", ["no", "female", "male"]),
    "face_restore_weight": (0.75, None),
    "image_format": ("jpeg", ["jpeg", "png", "webp"]),
    "image_quality": (95, None),
}


@pytest.fixture(autouse=True)
def _models(monkeypatch, swap_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))


def named(node, result) -> dict:
    return dict(zip(node.RETURN_NAMES, result))


def api_values(**changes) -> dict:
    values = {name: default for name, (default, _) in API.items()}
    values.update(facedetection=DETECTOR, face_restore_weight=0.0, **changes)
    return values


ENCODING = ("image_format", "image_quality")  # the API's output encoding: the local node's last widgets


def test_all_in_one_widgets_are_the_apis_parameters_in_order_with_its_defaults():
    inputs = FaceswapV3.INPUT_TYPES()
    required, optional = inputs["required"], inputs["optional"]
    swap_parameters = [name for name in API if name not in ENCODING]
    assert list(required) == ["target_img", *swap_parameters]
    assert list(optional)[0] == "pixel_boost"  # the first widget after the API's own
    assert list(optional)[-2:] == list(ENCODING)  # nothing is encoded here: last, after what changes the swap
    assert {"source_img", "source_face_model"} <= set(optional)
    for name, (default, values) in API.items():
        spec = {**required, **optional}[name]
        assert spec[1]["default"] == default, name
        assert "tooltip" in spec[1]
        if values is not None:
            assert spec[0][:len(values)] == values, name
    assert required["face_restore_weight"][1]["min"] == 0 and required["face_restore_weight"][1]["max"] == 1
    assert optional["image_quality"][1]["min"] == 10 and optional["image_quality"][1]["max"] == 100


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp"])
def test_all_in_one_image_equals_the_pipelines_array_bit_for_bit_whatever_the_image_format(swap_root, image_format):
    source = read_image_file(FACES / "portrait_female_02.jpg")
    target = read_image_file(FACES / "portrait_male_damon.jpg")
    values = api_values(image_format=image_format, image_quality=40)
    out = named(FaceswapV3, FaceswapV3().swap(frames_to_image([source]), frames_to_image([target]), **values))
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False),
                        swapper_file="inswapper_128.onnx")
    direct = run_faceswap(source, [target], FaceswapParams(**values), models).frames[0]
    assert not np.array_equal(direct, target)
    assert torch.equal(out["image"], frames_to_image([direct]))


def test_all_in_one_local_widgets_say_they_do_not_encode_and_old_base64_values_are_ignored():
    inputs = FaceswapV3.INPUT_TYPES()
    assert "base64" not in {**inputs["required"], **inputs["optional"]}
    for name in ENCODING:
        assert "never re-encoded" in inputs["optional"][name][1]["tooltip"]
    remote = SegmindRemoteSwap.INPUT_TYPES()["required"]
    assert list(remote)[:len(API) + 1] == [*API, "base64"] and "never re-encoded" not in remote["image_format"][1]["tooltip"]
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    old_prompt = FaceswapV3().swap(source, source, **api_values(), base64=True)  # an API-format workflow of before
    new_prompt = FaceswapV3().swap(source, source, **api_values())
    assert torch.equal(old_prompt[0], new_prompt[0])


def test_info_output_counts_faces_per_frame_names_where_models_ran_and_carries_warnings():
    face = read_image_file(FACES / "portrait_male_damon.jpg")
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    info = named(FaceswapV3, FaceswapV3().swap(source, frames_to_image([face, np.full_like(face, 90)]),
                                                 **api_values()))["info"]
    lines = info.splitlines()
    assert lines[0] == "faces swapped per frame: 1, 0"
    for model, role in ((DETECTOR, "detect"), ("inswapper_128.onnx", "swap"), ("w600k_r50.onnx", "recognize")):
        where = runtime_for(role).name  # e.g. openvino:CPU:bf16 (pipeline/runtime/choice.py)
        assert any(line == f"model {model}: {where}" or line.startswith(f"model {model}: {where} (") for line in lines)
    assert any(line.startswith("warning: frame 1: target has no face") for line in lines)


def test_half_precision_image_batches_are_accepted_and_quantised_like_float32():
    damon = read_image_file(FACES / "portrait_male_damon.jpg")
    frames = [damon, np.ascontiguousarray(damon[:, ::-1])]
    image = frames_to_image(frames)
    for dtype in (torch.float16, torch.bfloat16):
        half = image.to(dtype)
        expected = [np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8) for f in half.float().numpy()]
        converted = image_to_frames(half)
        assert all(np.array_equal(a, b) for a, b in zip(converted, expected)), dtype
        assert np.abs(converted[0].astype(int) - frames[0]).max() <= 1  # 8-bit values survive fp16 and bf16
    grey = image_to_frames(image[..., :1].to(torch.bfloat16))[0]
    assert grey.shape == frames[0].shape and np.array_equal(grey[..., 0], grey[..., 2])
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    swapped = FaceswapV3().swap(source.to(torch.bfloat16), image[:1].to(torch.float16), **api_values())[0]
    assert swapped.dtype == torch.float32 and tuple(swapped.shape) == (1, 800, 600, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_image_batches_on_the_gpu_are_accepted():
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    target = frames_to_image([read_image_file(FACES / "portrait_male_damon.jpg")])
    on_gpu = FaceswapV3().swap(source.cuda().half(), target.cuda(), **api_values())[0]
    on_cpu = FaceswapV3().swap(source.half(), target, **api_values())[0]
    assert torch.equal(on_gpu, on_cpu)


def test_a_single_face_reports_progress_per_face_step_and_cancel_stops_between_faces(swap_root):
    source = read_image_file(FACES / "group_2faces_women_7242.jpg")
    target = read_image_file(FACES / "couple_female_left_male_right.jpg")
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))
    steps = []
    run_faceswap(source, [target], FaceswapParams(**api_values()), models,
                 on_step=lambda frame, done, total: steps.append((frame, done, total)))
    assert steps == [(0, 0, 1), (0, 1, 1)]  # one face: before and after its swap

    class Cancelled(Exception):
        pass

    def cancel_after_first_face(frame, done, total):
        steps.append((frame, done, total))
        if done == 1:
            raise Cancelled

    steps.clear()
    with pytest.raises(Cancelled):
        run_faceswap(source, [target], FaceswapParams(**api_values(input_faces_index="0,1")), models,
                     on_step=cancel_after_first_face)
    assert steps == [(0, 0, 2), (0, 1, 2)]  # the second face was never started


def test_detect_then_swap_nodes_equal_the_engine():
    source = frames_to_image([read_image_file(FACES / "group_2faces_women_7242.jpg")])
    target = frames_to_image([read_image_file(FACES / "two_men.jpg")] * 2)
    source_faces, _, _ = DetectFaces().detect(source, DETECTOR, "left-right", "no", "1,0")
    target_faces, _, _ = DetectFaces().detect(target, DETECTOR, "left-right", "no", "0,1")
    assert source_faces.first_frame.ndim == target_faces.first_frame.ndim == 3  # FACES keeps one frame, not all
    result = named(SwapFaces, SwapFaces().swap(target, target_faces, "latent_shift.onnx", source_faces=source_faces))
    swapped = result["image"]
    assert result["info"].startswith("faces swapped per frame: 2, 2\n")
    by_image = SwapFaces().swap(target, target_faces, "latent_shift.onnx", source_image=source,
                                source_faces_index="1,0")[0]
    assert torch.equal(swapped, by_image)
    assert not torch.equal(swapped, target)
    models = SwapModels(store=ModelStore(allow_download=False), swapper_file="latent_shift.onnx")
    direct = run_faceswap(image_to_frames(source)[0], image_to_frames(target),
                          FaceswapParams(**api_values(source_faces_index="1,0", input_faces_index="0,1",
                                                      detection_face_order="left-right")), models)
    assert len(direct.frames) == len(image_to_frames(swapped)) == 2
    assert all(np.array_equal(a, b) for a, b in zip(image_to_frames(swapped), direct.frames))


def test_batch_with_a_frame_without_face_passes_it_through():
    face = read_image_file(FACES / "portrait_male_damon.jpg")
    empty = np.full_like(face, 90)
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    out = named(FaceswapV3, FaceswapV3().swap(source, frames_to_image([face, empty, face]), **api_values()))["image"]
    frames = image_to_frames(out)
    assert np.array_equal(frames[1], empty)
    assert not np.array_equal(frames[0], face) and np.array_equal(frames[0], frames[2])


def test_swap_faces_needs_a_source_and_matching_frames():
    target = frames_to_image([read_image_file(FACES / "two_men.jpg")])
    faces, _, _ = DetectFaces().detect(target, DETECTOR, "large-small", "no", "0")
    with pytest.raises(BadInput, match="SwapFaces needs source_faces or source_image"):
        SwapFaces().swap(target, faces, "inswapper_128.onnx")
    with pytest.raises(BadInput, match="target_faces has 1 frames but target_image has 2"):
        SwapFaces().swap(torch.cat([target, target]), faces, "inswapper_128.onnx", source_faces=faces)


def test_model_widgets_say_which_files_are_on_disk_and_which_will_download():
    required = FaceswapV3.INPUT_TYPES()["required"]
    detection = required["facedetection"][1]["tooltip"]
    assert "On disk: retinaface_mobile0.25." in detection
    assert "Downloaded on first use: retinaface_resnet50, YOLOv5l, YOLOv5n, scrfd_10g (buffalo_l)." in detection
    assert "Downloaded on first use: codeformer-v0.1.0.pth, GFPGANv1.4.pth, GFPGANv1.3.pth." in \
        required["face_restore"][1]["tooltip"]
    assert "On disk: inswapper_128.onnx." in SwapFaces.INPUT_TYPES()["required"]["swap_model"][1]["tooltip"]
