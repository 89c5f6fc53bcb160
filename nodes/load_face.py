"""LoadFace: an image from ComfyUI's input folder, a URL, a file path or base64 text -> IMAGE.

Workflows are shared files, so the widgets are untrusted: URLs must resolve to public addresses (unless
FACESWAP_V3_ALLOW_PRIVATE_URLS=1), paths must lie in ComfyUI's input/output/temp folders or a folder
listed in FACESWAP_V3_IMAGE_FOLDERS, and no error quotes what was read."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..net.image_reference import is_inside, load_image
from ..net.url_guard import user_url_policy
from ..pipeline.errors import BadInput
from ..pipeline.images import read_image_file
from .comfy_env import folders
from .image_folders import allowed_image_folders, outside_message
from .tensors import frames_to_image

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _input_files() -> list[str]:
    folder = folders.input_directory()
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
        path = _picked_file(image)
        if path is None:
            return (f"image {_quoted(image)} is not a file in the input folder: pick an image (or upload one), "
                    "or fill url_or_path_or_base64")
        return True

    @classmethod
    def IS_CHANGED(cls, image=None, url_or_path_or_base64=""):
        """What ComfyUI compares to decide whether to load again: a file's content hash (so a file
        overwritten under the same name is re-read), else the URL or base64 text itself."""
        reference = (url_or_path_or_base64 or "").strip()
        path = _existing_file(reference) if reference else _picked_file(image or "")
        if path is not None:
            return _file_digest(path)
        if len(reference) > 512:  # base64 text: its digest is enough to compare
            return hashlib.sha256(reference.encode()).hexdigest()
        return reference or f"missing input file {image!r}"

    def load(self, image=None, url_or_path_or_base64=""):
        reference = (url_or_path_or_base64 or "").strip()
        if reference:
            rgb = load_image(reference, f"Load Face url_or_path_or_base64 {_quoted(reference)}", user_url_policy(),
                             allowed_image_folders(), outside_message)
        else:
            path = _picked_file(image or "")
            if path is None:
                raise BadInput(f"Load Face image {_quoted(image or '')} is not a file in the input folder: pick an "
                               "image (or upload one)")
            rgb = read_image_file(path, "Load Face image")
        return (frames_to_image([rgb]),)


def _picked_file(name: str) -> Path | None:
    """The image widget's file: in ComfyUI's input (or annotated output/temp) folder, never outside."""
    path = folders.annotated_input_path(name) if name else None
    if path is None or not is_inside(path, folders.comfy_image_directories()) or not path.is_file():
        return None
    return path


def _existing_file(reference: str) -> Path | None:
    """The path widget's file when it is one Load Face may read."""
    try:
        path = Path(reference).expanduser()
        if len(reference) < 4096 and path.is_file() and is_inside(path, allowed_image_folders()):
            return path
    except (OSError, ValueError):  # base64 text can be too long or odd for a path
        pass
    return None


def _file_digest(path: Path) -> str:
    """A file's SHA-256, read in blocks (ComfyUI asks this before every run)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
