"""The folders Load Face may read image files from: ComfyUI's input, output and temp folders (as core
LoadImage), plus those the user lists in FACESWAP_V3_IMAGE_FOLDERS (separated by os.pathsep). A shared
workflow's path widget cannot reach anything else: a file is opened once, and what was opened (not the
name asked for, which a symlink can flip between two checks) must lie in one of them."""

from __future__ import annotations

import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

ENV_IMAGE_FOLDERS = "FACESWAP_V3_IMAGE_FOLDERS"


def allowed_image_folders() -> list[Path]:
    """ComfyUI's image folders plus each non-blank entry of FACESWAP_V3_IMAGE_FOLDERS (unset or blank adds
    none: never the current directory)."""
    from .comfy_env.folders import comfy_image_directories

    folders = list(comfy_image_directories())
    for entry in os.environ.get(ENV_IMAGE_FOLDERS, "").split(os.pathsep):
        if entry.strip():
            folders.append(Path(entry.strip()).expanduser())
    return folders


def outside_message(what: str) -> str:
    """The one answer for a path that is not a file inside the folders, whether or not it exists elsewhere."""
    return (f"{what} is outside the folders Load Face reads, or no file there: ComfyUI's input, output and temp "
            f"folders, and the folders listed in the environment variable {ENV_IMAGE_FOLDERS} (separated by "
            f"'{os.pathsep}'); move the file there or list its folder")


def _opened_path(fd: int, path: Path) -> Path | None:
    """Where the open file fd really is: asked of the kernel where it can say (Linux, macOS), else the
    path's target now, if that is the very file opened (same device and inode)."""
    if os.path.isdir("/proc/self/fd"):
        try:
            return Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return None
    if sys.platform == "darwin":
        import fcntl

        try:
            return Path(os.fsdecode(fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).split(b"\0", 1)[0]))
        except OSError:
            return None
    try:
        real = path.resolve(strict=True)
        now, opened = os.stat(real), os.fstat(fd)
    except (OSError, RuntimeError, ValueError):
        return None
    return real if (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino) else None


def _inside(real: Path, folders: list[Path]) -> bool:
    for folder in folders:
        try:
            if real.is_relative_to(folder.expanduser().resolve()):
                return True
        except (OSError, RuntimeError, ValueError):
            continue
    return False


@contextmanager
def open_confined(path: Path, folders: list[Path]) -> Iterator[tuple[BinaryIO, int] | None]:
    """(the file opened for reading, its size), or None when path is not a regular file whose opened
    self lies inside one of folders (missing and outside look the same). Opened once, without blocking
    (a FIFO planted under the name cannot hang the caller)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):  # missing, unreadable, a name too long, a NUL byte
        yield None
        return
    try:
        info = os.fstat(fd)
        real = _opened_path(fd, path) if stat.S_ISREG(info.st_mode) else None
        if real is None or not _inside(real, folders):
            yield None
            return
        with os.fdopen(fd, "rb", closefd=False) as file:
            yield file, info.st_size
    finally:
        os.close(fd)
