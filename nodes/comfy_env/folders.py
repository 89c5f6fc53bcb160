"""ComfyUI's model folders (ours registered with folder_paths, so extra_model_paths.yaml works), its input,
output and temp folders, and where (and whether with metadata) saved images go."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ...pipeline.models.store import ModelStore

log = logging.getLogger("faceswap_v3")
MODEL_FOLDERS = ("facedetection", "facerestore_models", "insightface", "reswapper", "hyperswap", "face_parsing",
                 "reactor", "reactor/faces", "content_analyser")


def _folder_paths():
    try:
        import folder_paths  # ComfyUI's module

        return folder_paths
    except ImportError:
        return None


def register_model_folders() -> None:
    """Make MODEL_FOLDERS (facedetection/, facerestore_models/, insightface/, ReActor's reswapper/ and
    hyperswap/, face_parsing/ for the mask models, ReActor's reactor/faces/ for face models) known to ComfyUI
    (extra_model_paths.yaml too)."""
    fp = _folder_paths()
    if fp is None:
        return
    for name in MODEL_FOLDERS:
        fp.add_model_folder_path(name, str(Path(fp.models_dir) / name))


def model_store() -> ModelStore:
    fp = _folder_paths()
    first = {}
    if fp is not None:
        for name in MODEL_FOLDERS:
            try:
                first[name] = [Path(p) for p in fp.get_folder_paths(name)]
            except KeyError:
                first[name] = [Path(fp.models_dir) / name]
    return ModelStore(first_dirs=first, progress_for=_progress_for)


def _progress_for(name: str):
    try:
        from comfy.utils import ProgressBar
    except ImportError:
        return None
    bar: dict = {}

    def report(done: int, total: int | None) -> None:
        if done == 0:
            log.info("downloading %s", name)
        if total:
            bar.setdefault("bar", ProgressBar(total)).update_absolute(done, total)

    return report


def input_directory() -> Path | None:
    fp = _folder_paths()
    return Path(fp.get_input_directory()) if fp is not None else None


@dataclass(frozen=True)
class ImageFolders:
    """ComfyUI's input, output and temp folders: where an image widget's file may be."""

    input: Path
    output: Path
    temp: Path

    def all(self) -> list[Path]:
        return [self.input, self.output, self.temp]

    def annotated_path(self, name: str) -> Path:
        """An image widget's value as a path, by ComfyUI's rule (folder_paths.get_annotated_filepath):
        "a.png [output]" names output/a.png, likewise [input] and [temp]; a plain name is in input/. The
        result may still lead outside them ("../x", symlinks): the caller checks what it opens."""
        for suffix, folder in ((" [output]", self.output), (" [input]", self.input), (" [temp]", self.temp)):
            if name.endswith(suffix):
                return folder / name[:-len(suffix)]
        return self.input / name


def image_folders() -> ImageFolders | None:
    """ComfyUI's image folders; None outside ComfyUI."""
    fp = _folder_paths()
    if fp is None:
        return None
    return ImageFolders(Path(fp.get_input_directory()), Path(fp.get_output_directory()),
                        Path(fp.get_temp_directory()))


def comfy_image_directories() -> list[Path]:
    """ComfyUI's input, output and temp folders (none outside ComfyUI)."""
    found = image_folders()
    return found.all() if found is not None else []


def save_image_path(filename_prefix: str, width: int, height: int) -> tuple[Path, str, int, str]:
    """(folder, file name stem, first free counter, subfolder) for new images in ComfyUI's output folder,
    exactly as its SaveImage names them; outside ComfyUI, ./output with the same naming."""
    fp = _folder_paths()
    if fp is not None:
        folder, name, counter, subfolder, _ = fp.get_save_image_path(filename_prefix, fp.get_output_directory(),
                                                                    width, height)
        return Path(folder), name, counter, subfolder
    subfolder, _, name = filename_prefix.rpartition("/")
    folder = Path.cwd() / "output" / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[len(name) + 1:len(name) + 6]) for p in folder.glob(f"{name}_[0-9][0-9][0-9][0-9][0-9]_*")]
    return folder, name, max(taken, default=0) + 1, subfolder


def metadata_disabled() -> bool:
    """ComfyUI's --disable-metadata: no prompt or workflow in saved images."""
    try:
        from comfy.cli_args import args
    except ImportError:
        return False
    return bool(args.disable_metadata)
