"""Reading a model checkpoint's tensors without ever unpickling code: safetensors files, or .pth files
through torch.load(weights_only=True). Detectors and restorers both read theirs here."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelUnavailable


def read_state_dict(path: Path) -> dict:
    """The checkpoint's state dict (a "state_dict" wrapper and "module." prefixes removed); ModelUnavailable
    naming the file when it is not a plain state dict."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            import torch

            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise ModelUnavailable(f"{path.name} could not be loaded as a plain PyTorch state dict ({exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelUnavailable(f"{path.name} holds a {type(state).__name__}, not a plain PyTorch state dict")
    return {k.removeprefix("module.") if isinstance(k, str) else k: v for k, v in state.items()}
