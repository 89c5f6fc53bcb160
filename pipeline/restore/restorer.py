"""Face restoration (GFPGAN v1.3/v1.4, CodeFormer, RestoreFormer) through spandrel, on each face
aligned to the 512 FFHQ template, blended over the unrestored face and pasted back.

Adding a restorer needs no code: drop a .pth or .safetensors checkpoint that spandrel recognises as a face
restorer (with spandrel_extra_arches for CodeFormer) into models/facerestore_models/ and pick its file name
as face_restore. A registered download (a ModelFile in models/registry.py, named in options.RESTORERS) is only
for a restorer the pack should fetch by itself."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..geometry.align import ffhq_matrix, warp_crop
from ..errors import ModelUnavailable
from ..face import Face
from ..options import DEFAULTS, check_restore_weight, interpolation_flag
from ..models.checkpoints import read_state_dict
from ..geometry.paste import paste_crop
from ..geometry.paste_torch import DeviceFrames, to_device, paste_device

RESTORE_SIZE = 512
_SIGNED_RANGE = {"GFPGAN", "CodeFormer"}  # these take and return [-1, 1]; spandrel's call would clamp to [0, 1]


def restores(weight: float) -> bool:
    """Whether a face_restore_weight restores at all: at 0 none of the restored face shows and no restorer loads."""
    return weight != 0


def _register_extra_architectures() -> None:
    from spandrel import MAIN_REGISTRY
    from spandrel_extra_arches import EXTRA_REGISTRY

    known = {support.architecture.id for support in MAIN_REGISTRY.architectures()}
    missing = [entry for entry in EXTRA_REGISTRY if entry.architecture.id not in known]
    if missing:
        MAIN_REGISTRY.add(*missing)


class Restorer:
    """restore_batch(N crops of 512 RGB uint8, fidelity) -> the N restored crops."""

    def __init__(self, path: Path, device: str | None = None) -> None:
        import torch
        from spandrel import ModelLoader, UnsupportedModelError, canonicalize_state_dict

        from ..runtime.devices import torch_device

        _register_extra_architectures()
        path = Path(path)
        state = read_state_dict(path)
        try:
            descriptor = ModelLoader().load_from_state_dict(canonicalize_state_dict(state))
        except UnsupportedModelError:
            raise ModelUnavailable(
                f"{path.name} is not a model spandrel recognises; use GFPGANv1.3/1.4, CodeFormer or RestoreFormer"
            ) from None
        if descriptor.purpose != "FaceSR":
            raise ModelUnavailable(
                f"{path.name} is a {descriptor.architecture.name} model ({descriptor.purpose}), not a face restorer")
        self.device = torch_device(device)
        self.descriptor = descriptor.to(self.device).eval()
        self.torch_module = self.descriptor.model  # what a host's memory manager may account for
        self.architecture = descriptor.architecture.id
        self.name = path.name
        self.runs_on = f"torch:{self.device}"
        self._torch = torch
        self._openvino = None
        if self.device.type == "cpu":
            self._use_openvino(path)

    def _use_openvino(self, path: Path) -> None:
        """Run on OpenVINO where the runtime choice says so (pipeline/runtime/choice.py restore_choice): bf16
        when the probe crop holds the drift bound against this torch network, else f32."""
        from ..runtime.choice import restore_choice
        from ..runtime.openvino_restorer import openvino_restorer, to_uint8
        from ..runtime.platform import detect_platform
        from ..runtime.torch_export import EXPORTABLE
        from ..runtime.threads import thread_budget

        choice = restore_choice(detect_platform(str(self.device)))
        if choice is None or self.architecture not in EXPORTABLE:
            return
        precisions = (choice.precision, "fp32") if choice.probe and choice.precision != "fp32" else (choice.precision,)
        threads = thread_budget().threads("swap", on_gpu=False)[0]
        self._openvino, why = openvino_restorer(
            self.descriptor.model, self.architecture, path, choice.device, precisions, choice.probe,
            lambda crops: to_uint8(self._restore_torch(crops, DEFAULTS["codeformer_fidelity"]).numpy()), threads)
        self.runs_on = f"{self._openvino.runs_on} ({why})" if why else self._openvino.runs_on

    @property
    def batch_size(self) -> int:
        """Faces per call: a batch on CUDA; one at a time on the CPU, where a batch of two GFPGAN faces
        took 2.7x as long as the two faces one after the other (2-core machine, torch 2.14)."""
        return 8 if self.device.type == "cuda" else 1

    def restore_batch(self, crops: np.ndarray, fidelity: float = DEFAULTS["codeformer_fidelity"]) -> np.ndarray:
        """crops: (N, 512, 512, 3) RGB uint8 -> the N restored crops, in one call of the network."""
        y = self.restore_on_device(crops, fidelity)
        return (y.cpu().numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)

    def restore_on_device(self, crops: np.ndarray, fidelity: float = DEFAULTS["codeformer_fidelity"]):
        """restore_batch's crops as an (N, 512, 512, 3) float tensor in 0..1, left on the restorer's device."""
        if self._openvino is not None:
            return self._torch.from_numpy(self._openvino.restore(crops, fidelity))
        return self._restore_torch(crops, fidelity)

    def _restore_torch(self, crops: np.ndarray, fidelity: float):
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = x.contiguous()
        with torch.inference_mode():
            if self.architecture in _SIGNED_RANGE:
                kwargs = {"weight": float(fidelity)} if self.architecture == "CodeFormer" else {}
                y = (self.descriptor.model(x * 2 - 1, **kwargs)[0].clamp(-1, 1) + 1) / 2
            else:
                y = self.descriptor(x)
        return y.permute(0, 2, 3, 1).float()


def restore_call(restorer: Restorer, fidelity: float, interpolation: str) -> tuple[Callable, object]:
    """(restore_batch, paste_on) for restore_frames with this restorer: on a GPU, for an interpolation torch
    can sample with, its crops stay there to be pasted (paste_torch.paste_device); else numpy crops."""
    paste_on = paste_device(restorer.device, interpolation_flag(interpolation))
    if paste_on is None:
        return (lambda crops: restorer.restore_batch(crops, fidelity)), None
    return (lambda crops: restorer.restore_on_device(crops, fidelity)), paste_on


FrameMasks = tuple  # (keep, coverage) of one frame, each an (H, W) float array or None: see paste.paste_crop


def restore_frames(frames: list[np.ndarray], faces: list[list[Face]], restore_batch: Callable[[np.ndarray], np.ndarray],
                   weight: float, interpolation: str = "Bilinear", batch_faces: int = 1,
                   in_place: bool = False, masks: list[FrameMasks] | None = None,
                   on_face: Callable[[int], None] | None = None, paste_on=None) -> list[np.ndarray]:
    """out = weight * restored + (1 - weight) * unrestored, per face, pasted back softly. The faces of all
    frames go to restore_batch ((N, 512, 512, 3) crops -> N restored crops) at most batch_faces at a
    time. Every crop is cut before any is pasted back (where two faces' crops overlap, the later one sees the earlier face
    unrestored). A frame with nothing to restore comes back as it is; the others are copies, unless
    in_place. masks: per frame, (keep, coverage) for paste_crop. on_face(k): after each face of frame k
    is pasted back (progress; it may raise to cancel). paste_on: a torch device (paste_torch.paste_device)
    where restore_batch leaves its crops, as (N, 512, 512, 3) float tensors in 0..1 (Restorer.restore_on_device):
    they are blended and pasted there, each frame sent once and written back once."""
    flag = interpolation_flag(interpolation)
    check_restore_weight(weight)
    outs = [frame if in_place or not frame_faces or weight == 0 else frame.copy()
            for frame, frame_faces in zip(frames, faces)]
    if weight == 0:
        return outs
    jobs = [(k, ffhq_matrix(face.landmarks, RESTORE_SIZE)) for k, frame_faces in enumerate(faces) for face in frame_faces]
    crops = np.stack([warp_crop(outs[k], matrix, RESTORE_SIZE, flag) for k, matrix in jobs]) if jobs else None
    on_device = DeviceFrames(outs, masks, paste_on) if paste_on is not None else None
    for start in range(0, len(jobs), batch_faces):
        chunk = crops[start:start + batch_faces]
        restored = restore_batch(chunk)
        if on_device is not None:
            restored = restored * (255.0 * weight)
            if weight < 1.0:
                restored += to_device(chunk, paste_on) * (1 - weight)
        elif weight < 1.0:
            restored = (weight * restored.astype(np.float32) + (1 - weight) * chunk.astype(np.float32) + 0.5)
            restored = restored.clip(0, 255).astype(np.uint8)
        for (k, matrix), crop in zip(jobs[start:start + batch_faces], restored):
            if on_device is not None:
                on_device.paste(k, crop, matrix, flag)
            else:
                keep, coverage = masks[k] if masks else (None, None)
                paste_crop(outs[k], crop, matrix, flag, in_place=True, keep=keep, coverage=coverage)
            if on_face:
                on_face(k)
    if on_device is not None:
        on_device.finish()
    return outs
