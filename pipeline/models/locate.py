"""Where model files are looked for, in order, and where a missing one is downloaded to."""

from __future__ import annotations

import os
from pathlib import Path

ENV_MODELS_ROOT = "FACESWAP_V3_MODELS"


def user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "faceswap_v3" / "models"


def search_dirs(folder: str, first: list[Path] | None = None, models_root: Path | None = None) -> list[Path]:
    """Folders that may hold a file of this models sub-folder, in lookup order.

    first: folders to try before anything else (ComfyUI's folder_paths inside ComfyUI).
    models_root: a root laid out like ComfyUI's models/ (the CLI's --models-dir); when not given,
    the FACESWAP_V3_MODELS environment variable. The user cache comes last.
    """
    dirs = list(first or [])
    root = models_root or (Path(os.environ[ENV_MODELS_ROOT]) if os.environ.get(ENV_MODELS_ROOT) else None)
    if root is not None:
        dirs.append(Path(root) / folder)
    dirs.append(user_cache_root() / folder)
    unique: list[Path] = []
    for d in dirs:
        d = Path(d).expanduser()
        if d not in unique:
            unique.append(d)
    return unique


def find_file(name: str, dirs: list[Path]) -> Path | None:
    """The first existing dirs[i]/name, or None."""
    for d in dirs:
        candidate = d / name
        if candidate.is_file():
            return candidate
    return None


def list_files(dirs: list[Path], suffixes: tuple[str, ...]) -> list[str]:
    """Names of files with these suffixes found directly in any of dirs, sorted, without duplicates."""
    names = set()
    for d in dirs:
        if d.is_dir():
            names.update(p.name for p in d.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))
    return sorted(names)
