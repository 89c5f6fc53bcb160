"""RetinaFace ResNet-50, YOLOv5l and YOLOv5n: the official checkpoints' exact key layouts load under
strict=True and run end to end. The weights here are RANDOM (the real files can't be had on these
machines): these tests check shapes, loading and decoding only, never detection quality."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from support import FACES, MODELS
from faceswap_v3.pipeline.analysis.detectors import load_detector
from faceswap_v3.pipeline.analysis.detectors.yolov5face_net import ANCHORS
from faceswap_v3.pipeline.errors import ModelUnavailable
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore

LAYOUTS = {
    "retinaface_resnet50": ("retinaface_resnet50.json", "detection_Resnet50_Final.pth"),
    "YOLOv5l": ("YOLOv5l.json", "yolov5l-face.pth"),
    "YOLOv5n": ("YOLOv5n.json", "yolov5n-face.pth"),
}


def random_state_dict(layout: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        elif key.endswith("anchor_grid"):
            state[key] = torch.tensor(ANCHORS, dtype=torch.float32).view(shape)
        elif key.endswith("anchors"):
            strides = torch.tensor([8.0, 16.0, 32.0]).view(-1, 1, 1)
            state[key] = torch.tensor(ANCHORS, dtype=torch.float32).view(shape) / strides
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.05
    return state


def confident_heads(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bias the coarsest head's scores so each of its anchors reads as a face: random weights alone find
    none, and the checks on each face would then check nothing."""
    for key, value in state.items():
        if re.fullmatch(r"ClassHead\.2\.conv1x1\.bias", key):  # RetinaFace: (background, face) per anchor
            value.copy_(torch.tensor([-20.0, 20.0]).repeat(value.numel() // 2))
        elif re.fullmatch(r"model\.\d+\.m\.2\.bias", key):  # YOLOv5-face: 3 anchors x (xywh, obj, 10 marks, cls)
            rows = value.view(3, 16)
            rows[:, 4] = rows[:, 15] = 20.0
    return state


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_official_layout_loads_strictly_and_runs_on_a_real_photo(name, tmp_path):
    keys_file, file_name = LAYOUTS[name]
    layout = json.loads((MODELS / "keys" / keys_file).read_text())
    (tmp_path / "facedetection").mkdir()
    torch.save(confident_heads(random_state_dict(layout)), tmp_path / "facedetection" / file_name)
    store = ModelStore(models_root=tmp_path, allow_download=False)

    detector = load_detector(name, store)
    assert set(detector.net.state_dict()) == set(layout)
    assert {k: list(v.shape) for k, v in detector.net.state_dict().items()} == layout

    rgb = read_image_file(FACES / "two_men.jpg")
    faces = detector.detect(rgb)  # random weights: many boxes of no meaning, but well-formed ones
    assert len(faces) >= 20
    for face in faces:
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 < x2 <= rgb.shape[1] and 0 <= y1 < y2 <= rgb.shape[0]
        assert face.landmarks.shape == (5, 2) and np.isfinite(face.landmarks).all()
        assert 0.0 <= face.score <= 1.0
    # the anchors cover the whole photo once mapped back from the detector's 640 px copy
    boxes = np.array([face.box for face in faces])
    assert boxes[:, 2].max() > 0.95 * rgb.shape[1] and boxes[:, 3].max() > 0.95 * rgb.shape[0]


def test_wrong_checkpoint_for_the_detector_names_file_and_keys(tmp_path):
    folder = tmp_path / "facedetection"
    folder.mkdir()
    # The real MobileNet-0.25 file put where the ResNet-50 one belongs.
    (folder / "detection_Resnet50_Final.pth").write_bytes((MODELS / "detection_mobilenet0.25_Final.pth").read_bytes())
    store = ModelStore(models_root=tmp_path, allow_download=False)
    with pytest.raises(ModelUnavailable, match=r"detection_Resnet50_Final.pth is not a RetinaFace resnet50 checkpoint"):
        load_detector("retinaface_resnet50", store)


def test_pickled_objects_are_refused_not_executed(tmp_path):
    folder = tmp_path / "facedetection"
    folder.mkdir()
    torch.save({"weights": object.__new__(_Evil)}, folder / "yolov5n-face.pth")
    store = ModelStore(models_root=tmp_path, allow_download=False)
    with pytest.raises(ModelUnavailable, match="plain PyTorch state dict"):
        load_detector("YOLOv5n", store)
    assert not _Evil.unpickled


class _Evil:
    unpickled = False

    def __reduce__(self):
        return (_mark_unpickled, ())


def _mark_unpickled():
    _Evil.unpickled = True
