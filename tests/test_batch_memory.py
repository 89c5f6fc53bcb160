"""Memory for video batches: 100 frames of 720p, the swap's uint8 results turned into the IMAGE output
(nodes/tensors.py) grow the process by at most 1.2x the float32 input's size (one preallocated output filled
frame by frame, each result frame let go once copied); masks into a MASK likewise. Measured as resident memory in
a fresh process (glibc told to return every freed block of 128 KiB or more, so a freed frame shows at once), its
peak counted from the conversion's start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from support import REPO
from faceswap_v3.nodes.tensors import arrays_to_mask, frames_to_image

FRAMES, HEIGHT, WIDTH = 100, 720, 1280
MEASURE = r"""
import json, resource, sys
import numpy as np, torch
from faceswap_v3.nodes.tensors import arrays_to_mask, frames_to_image, image_to_lazy_frames

what, release = sys.argv[1], sys.argv[2] == "release"
B, H, W = %d, %d, %d

def resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

def peak() -> int:  # since the last reset_peak: pages the process had before (libraries) do not count
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

image = torch.empty((B, H, W, 3), dtype=torch.float32)
for i in range(B):  # the input IMAGE, written in place (no temporary the size of the batch)
    image[i].fill_(i / B)
    image[i, :, : W // 4].mul_(0.5)
base = resident()
reset_peak()
if what == "image":
    lazy = image_to_lazy_frames(image)
    results = [lazy[i] for i in range(B)]  # the swap's uint8 frames, all held when the conversion starts
    out = frames_to_image(results, release)
    assert out.shape == (B, H, W, 3) and abs(float(out[7, 0, -1, 0]) - round(255 * 7 / B) / 255) < 1e-6
else:
    results = [np.full((H, W), i / B, np.float32) for i in range(B)]  # per-frame masks as the job keeps them
    base = resident()
    reset_peak()
    out = arrays_to_mask(results, release)
    assert out.shape == (B, H, W)
print(json.dumps({"input": image.numel() * 4, "masks": B * H * W * 4, "growth": max(peak(), resident()) - base}))
""" % (FRAMES, HEIGHT, WIDTH)


def measured(what: str, release: bool) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", MEASURE, what, "release" if release else "keep"], env=env,
                          cwd=REPO.parent, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_100_frame_720p_batch_becomes_an_image_within_1_2x_the_inputs_size():
    found = measured("image", release=True)
    assert found["growth"] <= 1.2 * found["input"], f"{found['growth'] / found['input']:.2f}x the input"


def test_holding_every_result_frame_during_the_conversion_would_break_the_bound():
    """The bound is tight enough to see one extra copy of the batch in uint8 (0.25x the float32 input)."""
    found = measured("image", release=False)
    assert found["growth"] > 1.2 * found["input"], f"{found['growth'] / found['input']:.2f}x the input"


def test_masks_become_a_mask_in_the_memory_they_give_back():
    found = measured("mask", release=True)
    assert found["growth"] <= 0.1 * found["masks"], f"{found['growth'] / found['masks']:.2f}x the masks"


def test_the_conversions_give_the_values_of_before():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (9, 16, 3), dtype=np.uint8) for _ in range(3)]
    assert torch.equal(frames_to_image(list(frames)), torch.from_numpy(np.stack([f.astype(np.float32) / 255.0
                                                                                  for f in frames])))
    masks = [rng.random((9, 16)) for _ in range(2)]  # float64 arrays
    assert torch.equal(arrays_to_mask(masks), torch.from_numpy(np.stack([m.astype(np.float32) for m in masks])))
    kept = list(frames)
    frames_to_image(kept, release=True)
    assert kept == [None] * 3
    with pytest.raises(ValueError, match="no frames"):
        frames_to_image([])
