"""ModelStore: one object that knows where models are looked for and how they get downloaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ModelMissing
from .download import Progress, ensure_model
from .locate import find_file, list_files, search_dirs
from .registry import MODEL_FILES, ModelFile, model_file


@dataclass(frozen=True)
class NeededModel:
    """A model file a step loads: a registered name (looked for in its registry folder, downloaded on first
    use) or a file the user put in one of folders (never downloaded). Equal files compare equal whoever
    needs them."""

    name: str
    folders: tuple[str, ...] = ()
    # a registered file is downloaded when its step runs (unless downloads are off); False: never by that step
    downloaded_on_use: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if self.entry is not None:  # a registered file is looked for where it downloads to, and only there
            object.__setattr__(self, "folders", (self.entry.folder,))

    @property
    def entry(self) -> ModelFile | None:
        return MODEL_FILES.get(self.name)


@dataclass
class ModelStore:
    """first_dirs: per models sub-folder, folders to look in before anything else (ComfyUI's).
    models_root: a ComfyUI-style models/ root (else $FACESWAP_V3_MODELS, then the user cache).
    progress_for: makes a progress callback for a file name (ComfyUI's bar, or a terminal bar)."""

    first_dirs: dict[str, list[Path]] = field(default_factory=dict)
    models_root: Path | None = None
    progress_for: Callable[[str], Progress | None] = lambda name: None
    allow_download: bool = True

    def dirs(self, folder: str) -> list[Path]:
        return search_dirs(folder, self.first_dirs.get(folder), self.models_root)

    def path(self, name: str) -> Path:
        """Path of a registered model file, downloaded on first use."""
        entry = model_file(name)
        return ensure_model(entry, self.dirs(entry.folder), self.progress_for(entry.name), self.allow_download)

    def looked_in(self, need: NeededModel) -> list[Path]:
        """The folders need is looked for in, in order (the first is where a missing file goes)."""
        return [d for folder in need.folders for d in self.dirs(folder)]

    def find(self, need: NeededModel) -> Path | None:
        """need's file where it is on disk; None when it is not (nothing is downloaded)."""
        return find_file(need.name, self.looked_in(need))

    def resolve(self, need: NeededModel) -> Path:
        """need's file: a registered one downloaded on first use; ModelMissing when it is not to be had."""
        if need.entry is not None:
            return self.path(need.name)
        found = self.find(need)
        if found is None:
            looked = ", ".join(str(d) for d in self.looked_in(need))
            raise ModelMissing(f"model file {need.name} not found (looked in: {looked})", need.name, need.folders)
        return found

    def available(self, folder: str, suffixes: tuple[str, ...]) -> list[str]:
        return list_files(self.dirs(folder), suffixes)
