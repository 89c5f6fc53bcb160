"""LoadFace: an image from ComfyUI's input folder, a URL, a file path or base64 text -> IMAGE.

Workflows are shared files, so the widgets are untrusted: URLs must resolve to public addresses (unless
FACESWAP_V3_ALLOW_PRIVATE_URLS=1), paths must lie in ComfyUI's input/output/temp folders or a folder
listed in FACESWAP_V3_IMAGE_FOLDERS, and no error quotes what was read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..net.image_reference import fetch_image, looks_like_url
from ..net.url_guard import user_url_policy
from ..pipeline.errors import BadInput
from ..pipeline.runtime.images import MAX_FILE_BYTES, base64_bytes, decode_image
from .comfy_env import folders
from .image_folders import allowed_image_folders, open_confined, outside_message
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
    CATEGORY = "Faceswap V3/image"
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
                    # the label only (the saved name stays): a long label narrows the picked photo's name in
                    # the Vue renderer, where one label column serves every widget of the node
                    "default": "", "multiline": False, "display_name": "or URL/path",
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
        if not _is_picked_file(image, folders.image_folders()):
            return (f"image {_quoted(image)} is not a file in the input folder: pick an image (or upload one), "
                    "or fill url_or_path_or_base64")
        return True

    @classmethod
    def IS_CHANGED(cls, image=None, url_or_path_or_base64=""):
        """What ComfyUI compares to decide whether to load again: a file's content hash (so a file
        overwritten under the same name is re-read), else the URL or base64 text itself."""
        reference = (url_or_path_or_base64 or "").strip()
        if reference and _names_a_path(reference):
            return _digest(Path(reference).expanduser(), allowed_image_folders()) or reference
        if not reference:
            dirs = folders.image_folders()
            digest = _digest(dirs.annotated_path(image), dirs.all()) if dirs is not None and image else None
            return digest or f"missing input file {_quoted(image or '')}"
        if len(reference) > 512:  # base64 text: its digest is enough to compare
            return hashlib.sha256(reference.encode()).hexdigest()
        return reference

    def load(self, image=None, url_or_path_or_base64=""):
        reference = (url_or_path_or_base64 or "").strip()
        if reference:
            what = f"Load Face url_or_path_or_base64 {_quoted(reference)}"
            if looks_like_url(reference):
                rgb = fetch_image(reference, what, user_url_policy())
            elif _names_a_path(reference):
                rgb = read_confined_image(Path(reference).expanduser(), allowed_image_folders(), what)
            else:
                rgb = _decode_base64(reference, what)
        else:
            rgb = read_picked_image(image or "", folders.image_folders())
        return (frames_to_image([rgb]),)


def _names_a_path(text: str) -> bool:
    """Whether text is read as a file path (as load_image reads it): something exists under that name, or it
    is short and looks like a path. A path that exists nowhere is answered like one outside the folders."""
    if len(text) >= 4096:
        return False
    return os.path.lexists(os.path.expanduser(text)) or (
        len(text) < 260 and ("/" in text or "\\" in text or "." in text[-6:]))


def _decode_base64(text: str, what: str) -> np.ndarray:
    try:
        data = base64_bytes(text, what)
    except BadInput:
        raise BadInput(f"{what} is neither a URL, an existing file, nor valid base64") from None
    return decode_image(data, what)


def read_confined_image(path: Path, allowed: list[Path], what: str, refusal: str | None = None) -> np.ndarray:
    """The image file at path, opened once; refused with one message (refusal, else outside_message) unless
    what was opened is a regular file inside allowed; refused by its size before it is read."""
    with open_confined(path, allowed) as opened:
        if opened is None:
            raise BadInput(refusal or outside_message(what))
        file, size = opened
        what = f"{what} ({path.name})"
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{what} is {size} bytes; the limit for an image file is {MAX_FILE_BYTES}")
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"{what} is larger than the limit for an image file ({MAX_FILE_BYTES} bytes)")
    return decode_image(data, what)


def _is_picked_file(name: str, dirs: folders.ImageFolders | None) -> bool:
    """Whether the image widget's value names a regular file inside ComfyUI's image folders."""
    if dirs is None or not name:
        return False
    with open_confined(dirs.annotated_path(name), dirs.all()) as opened:
        return opened is not None


def read_picked_image(name: str, dirs: folders.ImageFolders | None) -> np.ndarray:
    """The image widget's file: in ComfyUI's input (or annotated output/temp) folder, never outside."""
    refusal = f"Load Face image {_quoted(name)} is not a file in the input folder: pick an image (or upload one)"
    if dirs is None or not name:
        raise BadInput(refusal)
    return read_confined_image(dirs.annotated_path(name), dirs.all(), f"Load Face image {_quoted(name)}", refusal)


def _digest(path: Path, allowed: list[Path]) -> str | None:
    """A file's SHA-256 (ComfyUI asks this before every run), read in blocks from the file opened once;
    for a file over the size limit, its size and time instead (the load refuses it unread); None when
    the file is not one Load Face may read."""
    with open_confined(path, allowed) as opened:
        if opened is None:
            return None
        file, size = opened
        if size > MAX_FILE_BYTES:
            return f"too large: {size} bytes, modified {os.fstat(file.fileno()).st_mtime_ns}"
        digest = hashlib.sha256()
        while block := file.read(1 << 20):
            digest.update(block)
        return digest.hexdigest()
