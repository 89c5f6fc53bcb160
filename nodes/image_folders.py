"""The folders Load Face may read image files from: ComfyUI's input, output and temp folders (as core
LoadImage), plus those the user lists in FACESWAP_V3_IMAGE_FOLDERS (separated by os.pathsep). A shared
workflow's path widget cannot reach anything else."""

from __future__ import annotations

import os
from pathlib import Path

ENV_IMAGE_FOLDERS = "FACESWAP_V3_IMAGE_FOLDERS"


def allowed_image_folders() -> list[Path]:
    from .comfy_env.folders import comfy_image_directories

    folders = list(comfy_image_directories())
    for entry in os.environ.get(ENV_IMAGE_FOLDERS, "").split(os.pathsep):
        if entry.strip():
            folders.append(Path(entry.strip()).expanduser())
    return folders


def outside_message(what: str) -> str:
    return (f"{what} is outside the folders Load Face reads: ComfyUI's input, output and temp folders, and the "
            f"folders listed in the environment variable {ENV_IMAGE_FOLDERS} (separated by '{os.pathsep}'); "
            "move the file there or list its folder")
