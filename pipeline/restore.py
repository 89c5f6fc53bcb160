"""Face restoration (GFPGAN v1.3/v1.4, CodeFormer, RestoreFormer) through spandrel, on each face
aligned to the 512 FFHQ template, blended over the unrestored face and pasted back."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .align import INTERPOLATION_FLAGS, ffhq_matrix, warp_crop
from .errors import BadInput, ModelUnavailable
from .face import Face
from .options import INTERPOLATIONS, check_choice
from .paste import paste_crop

RESTORE_SIZE = 512
_SIGNED_RANGE = {"GFPGAN", "CodeFormer"}  # these take and return [-1, 1]; spandrel's call would clamp to [0, 1]


def _register_extra_architectures() -> None:
    from spandrel import MAIN_REGISTRY
    from spandrel_extra_arches import EXTRA_REGISTRY

    known = {support.architecture.id for support in MAIN_REGISTRY.architectures()}
    missing = [entry for entry in EXTRA_REGISTRY if entry.architecture.id not in known]
    if missing:
        MAIN_REGISTRY.add(*missing)


class Restorer:
    """restore(crop512 RGB uint8, fidelity) -> restored crop512 RGB uint8."""

    def __init__(self, path: Path, device: str | None = None) -> None:
        import torch
        from spandrel import ModelLoader, UnsupportedModelError, canonicalize_state_dict

        from .detectors.common import torch_device

        _register_extra_architectures()
        path = Path(path)
        try:
            if path.suffix.lower() == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
            raise ModelUnavailable(f"{path.name} could not be loaded as a plain PyTorch checkpoint ({exc})") from None
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

    def restore(self, crop: np.ndarray, fidelity: float = 0.5) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(crop.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(self.device)
        with torch.inference_mode():
            if self.architecture in _SIGNED_RANGE:
                kwargs = {"weight": float(fidelity)} if self.architecture == "CodeFormer" else {}
                y = (self.descriptor.model(x * 2 - 1, **kwargs)[0].clamp(-1, 1) + 1) / 2
            else:
                y = self.descriptor(x)
        return (y[0].permute(1, 2, 0).float().cpu().numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def restore_faces(rgb: np.ndarray, faces: list[Face], restore: Callable[[np.ndarray], np.ndarray],
                  weight: float, interpolation: str = "Bilinear") -> np.ndarray:
    """out = weight * restored + (1 - weight) * unrestored, per face, pasted back softly."""
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    if not 0.0 <= weight <= 1.0:
        raise BadInput(f"face_restore_weight must be between 0 and 1, got {weight}")
    if weight == 0 or not faces:
        return rgb
    flag = INTERPOLATION_FLAGS[interpolation]
    out = rgb.copy()
    for face in faces:
        matrix = ffhq_matrix(face.landmarks, RESTORE_SIZE)
        crop = warp_crop(out, matrix, RESTORE_SIZE, flag)
        restored = restore(crop)
        if weight < 1.0:
            restored = (weight * restored.astype(np.float32) + (1 - weight) * crop.astype(np.float32) + 0.5)
            restored = restored.clip(0, 255).astype(np.uint8)
        paste_crop(out, restored, matrix, flag, in_place=True)
    return out
