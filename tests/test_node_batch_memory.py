"""Memory for video batches through the whole all-in-one node (FaceswapV3): 100 frames of 720p (a float32
IMAGE of 1,106 MB) grow the process by at most 1.2x the input's size when nothing in the queued prompt reads
the node's mask: the IMAGE output is then the only batch-sized thing built (prompt_links.py marks the mask
unread, the engine keeps no per-frame masks, the MASK output is one zero expanded to [B, H, W]). A mask that
is read stays a full float32 mask, the same as outside a prompt.

Measured as resident memory in a fresh process (glibc told to return every freed block of 128 KiB or more),
from after the models are loaded (a one-frame run first) to the peak of the 100-frame run. Every frame holds
one real face, detected, swapped by the identity stand-in swapper and pasted back (its mask written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from support import FACES, REPO, named
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.content_gate import ENV_CLASSIFIER, checked_swap, unswapped
from faceswap_v3.nodes.comfy_env.prompt_handler import on_each_prompt
from faceswap_v3.nodes.prompt_links import UNREAD, mark_unread_outputs, output_unread
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.tensors import frames_to_image, image_to_frames, image_to_lazy_frames
from faceswap_v3.pipeline.job import FaceswapResult, run_faceswap
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.swap_models import SwapModels
from test_nodes_content_gate import FACE, FLAGGED_FACE

DETECTOR = "det_500m.onnx"  # the smallest real detector
FRAMES, HEIGHT, WIDTH = 100, 720, 1280
VALUES = {"input_faces_index": "0", "source_faces_index": "0", "face_restore": "codeformer-v0.1.0.pth",
          "interpolation": "Bilinear", "detection_face_order": "large-small", "facedetection": DETECTOR,
          "detect_gender_input": "no", "detect_gender_source": "no", "face_restore_weight": 0.0}
# the 100-frame run without the content check (it holds one frame at a time; with it, and SCRFD-2.5G, on
# frames without a face the growth measured the same, 1.03x, in twice the time)
BATCH_VALUES = {**VALUES, "content_check": "off"}
SOURCE = frames_to_image([read_image_file(FACES / "portrait_male_damon.jpg")])
FACE_FRAME = read_image_file(FACES / "portrait_female_johansson.jpg")
TARGET = frames_to_image([FACE_FRAME, np.full_like(FACE_FRAME, 90)])  # a face, then a frame without one


def prompt(mask_read: bool, node: str = "FaceswapV3") -> dict:
    """An API-format prompt as ComfyUI runs it: the swapping node "3", its image saved, its mask previewed
    or not, marked by the pack's prompt handler."""
    queued = {"1": {"class_type": "LoadImage", "inputs": {"image": "frames.png"}},
              "3": {"class_type": node, "inputs": {"target_img": ["1", 0], "source_img": ["1", 0]}},
              "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "swapped"}}}
    if mask_read:
        queued["5"] = {"class_type": "MaskPreview", "inputs": {"mask": ["3", 2]}}
    mark_unread_outputs(queued)
    return queued


MEASURE = r"""
import gc, json, resource, sys
import numpy as np, torch
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.tensors import frames_to_image
from faceswap_v3.pipeline.runtime.images import read_image_file

prompts, values, faces = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
B, H, W = %d, %d, %d

def resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

def peak() -> int:  # since the last reset_peak
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

hd = read_image_file(faces + "/hd_1920x1080_male.jpg")
frame = torch.from_numpy(hd[(1080 - H) // 2:][:H, (1920 - W) // 2:][:, :W].astype(np.float32) / 255.0)  # 720p, one face
image = torch.empty((B, H, W, 3), dtype=torch.float32)
for i in range(B):  # written in place: no temporary the size of the batch
    image[i] = frame
source = frames_to_image([read_image_file(faces + "/portrait_female_02.jpg")])
node = FaceswapV3()
node.swap(source, image[:1].clone(), **values, prompt=prompts["unread"], unique_id="3")  # loads every model
found = {"input": image.numel() * 4}
for name, queued in prompts.items():
    gc.collect()
    base = resident()
    reset_peak()
    out = node.swap(source, image, **values, prompt=queued, unique_id="3")
    found[name] = max(peak(), resident()) - base
    assert out[0].shape == (B, H, W, 3) and out[2].shape == (B, H, W), (out[0].shape, out[2].shape)
    assert out[1].startswith("faces swapped per frame: 1, 1, 1"), out[1][:200]
    del out
found["before"] = base  # the process with the models loaded and the input made
print(json.dumps(found))
""" % (FRAMES, HEIGHT, WIDTH)


@pytest.fixture(scope="module")
def measured(swap_root) -> dict:
    """Growth over the 100-frame run with the mask unread, then read, in one fresh process."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_NUM_THREADS": "1", "FACESWAP_V3_OFFLINE": "1",
           "FACESWAP_V3_MODELS": str(swap_root), "FACESWAP_V3_RUNTIME": "onnxruntime"}
    env.pop("FACESWAP_V3_PRECISION", None)
    prompts = {"unread": prompt(mask_read=False), "read": prompt(mask_read=True)}
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(prompts), json.dumps(BATCH_VALUES),
                           str(FACES)], env=env, cwd=REPO.parent, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def _models(monkeypatch, swap_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(swap_root))


def test_a_100_frame_720p_batch_through_the_all_in_one_node_stays_within_1_2x_the_input(measured):
    assert measured["unread"] <= 1.2 * measured["input"], f"{measured['unread'] / measured['input']:.2f}x the input"


def test_a_read_mask_is_built_whole_and_the_bound_sees_it(measured):
    """The bound is tight enough to see the float32 mask (0.33x the input) built when it is read."""
    assert measured["read"] > 1.2 * measured["input"], f"{measured['read'] / measured['input']:.2f}x the input"


def test_a_read_mask_is_the_full_mask_of_a_call_outside_a_prompt_and_an_unread_one_costs_nothing():
    outside = named(FaceswapV3, FaceswapV3().swap(SOURCE, TARGET, **VALUES))  # no PROMPT: tests, other callers
    read = named(FaceswapV3, FaceswapV3().swap(SOURCE, TARGET, **VALUES, prompt=prompt(True), unique_id="3"))
    assert torch.equal(read["image"], outside["image"]) and torch.equal(read["mask"], outside["mask"])
    mask = read["mask"]
    assert mask.dtype == torch.float32 and mask.shape == (2, *FACE_FRAME.shape[:2]) and mask.is_contiguous()
    changed = (image_to_frames(read["image"])[0] != FACE_FRAME).any(axis=2)
    assert changed.sum() > 1000 and not (changed & (mask[0].numpy() == 0)).any()  # every changed pixel
    assert mask[0].max() > 0.99 and mask[1].max() == 0  # the frame without a face: no change, zero mask

    unread = named(FaceswapV3, FaceswapV3().swap(SOURCE, TARGET, **VALUES, prompt=prompt(False), unique_id="3"))
    assert torch.equal(unread["image"], outside["image"]) and unread["info"] == outside["info"]
    mask = unread["mask"]
    assert mask.dtype == torch.float32 and mask.shape == (2, *FACE_FRAME.shape[:2]) and mask.max() == 0
    assert mask.untyped_storage().nbytes() == 4  # one float for the whole batch


def test_the_engine_keeps_no_masks_when_asked_and_swaps_the_same(swap_root):
    """The job itself holds no per-frame masks for an unread mask (each float32, a third of the frame)."""
    source = read_image_file(FACES / "portrait_male_damon.jpg")
    frames = [read_image_file(FACES / "portrait_female_johansson.jpg")] * 2
    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))
    params = FaceswapParams(**{**VALUES, "image_format": "png", "image_quality": 95})
    kept = run_faceswap(source, frames, params, models)
    left_out = run_faceswap(source, frames, params, models, paste_masks=False)
    assert len(kept.masks) == 2 and kept.masks[0].max() > 0.99 and left_out.masks == []
    assert all(np.array_equal(a, b) for a, b in zip(kept.frames, left_out.frames))
    assert not np.array_equal(left_out.frames[0], frames[0])


def test_swap_faces_leaves_its_unread_mask_out_too():
    source = frames_to_image([read_image_file(FACES / "portrait_female_02.jpg")])
    target = frames_to_image([read_image_file(FACES / "two_men.jpg")])
    faces, _, _ = DetectFaces().detect(target, DETECTOR, "left-right", "no", "0,1")
    full = named(SwapFaces, SwapFaces().swap(target, faces, "solid_green.onnx", source_image=source))
    read = prompt(True, "FaceswapV3SwapFaces")
    unread = prompt(False, "FaceswapV3SwapFaces")
    linked = named(SwapFaces, SwapFaces().swap(target, faces, "solid_green.onnx", source_image=source,
                                               prompt=read, unique_id="3"))
    left_out = named(SwapFaces, SwapFaces().swap(target, faces, "solid_green.onnx", source_image=source,
                                                 prompt=unread, unique_id="3"))
    assert torch.equal(linked["mask"], full["mask"]) and full["mask"].max() > 0.99
    assert torch.equal(left_out["image"], full["image"]) and left_out["mask"].untyped_storage().nbytes() == 4


def test_blocked_frames_pass_through_with_an_unread_mask(monkeypatch):
    """The content gate's paths where some or all frames are blocked, with an engine that keeps no masks."""
    monkeypatch.setenv(ENV_CLASSIFIER, "facefusion")  # FaceFusion's analysers as stand-ins: magenta is flagged

    def engine(frames, kept, mask, after_frame, on_step) -> FaceswapResult:
        out = [255 - np.asarray(frames[j]) for j in range(len(frames))]
        return FaceswapResult(out, faces_swapped=[1] * len(out))  # no masks, as with paste_masks=False

    for frames, swapped in (([FACE, FLAGGED_FACE], "1, 0"), ([FLAGGED_FACE], "0")):
        image = frames_to_image(frames)
        out_image, info, mask, _ = checked_swap("on", None, image_to_lazy_frames(image), image, None, engine,
                                                paste_masks=False)
        assert info.splitlines()[0] == f"faces swapped per frame: {swapped}"
        assert torch.equal(out_image[-1], image[-1]) and "the target was blocked" in info
        assert mask.shape == image.shape[:3] and mask.untyped_storage().nbytes() == 4 and mask.max() == 0
    assert unswapped([FACE], paste_masks=False).masks == [] and len(unswapped([FACE]).masks) == 1


def test_the_mark_makes_comfyuis_cache_key_differ_and_only_a_marked_unread_output_is_left_out():
    """ComfyUI keys a node's cached outputs by its own inputs: linking a Preview to the mask must change them,
    or a run without the mask would be reused. A mark without the link gone (a prompt sent with a stale mark)
    and a call outside a prompt build the mask."""
    unread, read = prompt(False), prompt(True)
    assert unread["3"]["inputs"][UNREAD] == "mask" and UNREAD not in read["3"]["inputs"]
    assert output_unread(unread, "3", "mask") and not output_unread(read, "3", "mask")
    assert not output_unread(unread, "3", "image")  # only the outputs the node may skip
    stale = prompt(True)
    stale["3"]["inputs"][UNREAD] = "mask"  # marked, yet read
    assert not output_unread(stale, "3", "mask")
    mark_unread_outputs(stale)
    assert UNREAD not in stale["3"]["inputs"]
    unmarked = prompt(False)
    del unmarked["3"]["inputs"][UNREAD]  # the handler never ran: ComfyUI's cache could not tell the runs apart
    assert not output_unread(unmarked, "3", "mask")
    assert not output_unread(None, None, "mask") and not output_unread(unread, "9", "mask")


def test_every_prompt_comfyui_queues_is_marked_by_one_handler(monkeypatch):
    class PromptServer:  # the part of ComfyUI's server.PromptServer the pack uses
        instance = None

        def __init__(self):
            self.on_prompt_handlers = []

        def add_on_prompt_handler(self, handler):
            self.on_prompt_handlers.append(handler)

    on_each_prompt(mark_unread_outputs)  # outside ComfyUI: nothing to register with, nothing happens
    PromptServer.instance = PromptServer()
    monkeypatch.setitem(sys.modules, "server", type(sys)("server"))
    sys.modules["server"].PromptServer = PromptServer
    on_each_prompt(mark_unread_outputs)
    on_each_prompt(mark_unread_outputs)
    handlers = PromptServer.instance.on_prompt_handlers
    assert len(handlers) == 1
    queued = prompt(False)
    del queued["3"]["inputs"][UNREAD]
    assert handlers[0]({"prompt": queued, "client_id": "x"})["prompt"]["3"]["inputs"][UNREAD] == "mask"
