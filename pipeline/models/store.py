"""ModelStore: one object that knows where models are looked for and how they get downloaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .download import Progress, ensure_model
from .locate import list_files, search_dirs
from .registry import model_file


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

    def available(self, folder: str, suffixes: tuple[str, ...]) -> list[str]:
        return list_files(self.dirs(folder), suffixes)
