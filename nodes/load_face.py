"""LoadFace: an image from ComfyUI's input folder, a URL, a file path or base64 text -> IMAGE."""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import comfy_env
from ..pipeline.images import load_image, read_image_file
from .tensors import frames_to_image

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _input_files() -> list[str]:
    folder = comfy_env.input_directory()
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)


def _quoted(text: str, limit: int = 40) -> str:
    """The first `limit` characters of a value, quoted, for an error message."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


class LoadFace:
    CATEGORY = "Faceswap V3/analysis"
    DESCRIPTION = "Load a face photo from the input folder, an http(s) URL, a file path or base64 text."
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The photo as an RGB IMAGE, upright per its EXIF orientation.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": (_input_files(), {"image_upload": True,
                                           "tooltip": "A photo in ComfyUI's input folder (upload one here)."}),
            },
            "optional": {
                "url_or_path_or_base64": ("STRING", {
                    "default": "", "multiline": False,
                    "tooltip": "When filled, used instead of the picked file: an http(s) URL, "
                               "a file path, or base64 image data."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, image=None, url_or_path_or_base64=""):
        if (url_or_path_or_base64 or "").strip():
            return True
        if not image:
            return "no photo chosen: pick an image in image (or upload one), or fill url_or_path_or_base64"
        path = comfy_env.annotated_input_path(image)
        if path is None or not path.is_file():
            return (f"image {_quoted(image)} is not a file in the input folder: pick an image (or upload one), "
                    "or fill url_or_path_or_base64")
        return True

    @classmethod
    def IS_CHANGED(cls, image=None, url_or_path_or_base64=""):
        """What ComfyUI compares to decide whether to load again: a file's content hash (so a file
        overwritten under the same name is re-read), else the URL or base64 text itself."""
        reference = (url_or_path_or_base64 or "").strip()
        path = _existing_file(reference) if reference else comfy_env.annotated_input_path(image or "")
        if path is not None and path.is_file():
            return hashlib.sha256(path.read_bytes()).hexdigest()
        if len(reference) > 512:  # base64 text: its digest is enough to compare
            return hashlib.sha256(reference.encode()).hexdigest()
        return reference or f"missing input file {image!r}"

    def load(self, image=None, url_or_path_or_base64=""):
        reference = (url_or_path_or_base64 or "").strip()
        if reference:
            rgb = load_image(reference, f"Load Face url_or_path_or_base64 {_quoted(reference)}")
        else:
            rgb = read_image_file(comfy_env.annotated_input_path(image), "LoadFace image")
        return (frames_to_image([rgb]),)


def _existing_file(reference: str) -> Path | None:
    try:
        path = Path(reference).expanduser()
        return path if len(reference) < 4096 and path.is_file() else None
    except (OSError, ValueError):  # base64 text can be too long or odd for a path
        return None
