"""A command's output file, never destroying what is there: checked before the work starts, written to a
temporary file beside the target, renamed over it only once complete."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ..pipeline.errors import BadInput, FaceswapError

IMAGE_EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}


def image_format_for(path: Path, requested: str | None, as_json: bool, default: str) -> str:
    """The image format to write to path. Without --image-format the extension decides; with it, the
    two must agree. A JSON (--base64) output must not carry an image's extension."""
    extension = path.suffix.lower()
    named = IMAGE_EXTENSIONS.get(extension)
    if as_json:
        if named:
            raise BadInput(f"-o {path.name}: with --base64 the output is JSON ({{\"image\": ...}}), not a "
                           f"{extension} image; name it .json")
        return requested or default
    if named is None:
        raise BadInput(f"-o {path.name}: cannot tell the image format from {extension or 'a name without extension'}; "
                       f"end it in {', '.join(IMAGE_EXTENSIONS)}")
    if requested and requested != named:
        raise BadInput(f"-o {path.name} names a {named} file but --image-format is {requested}; make them agree, "
                       "or leave out --image-format and the extension decides")
    return named


class PendingOutput:
    """Claims a temporary file beside path at once (so an unwritable or missing folder fails before
    any work); commit(data) renames it over path; leaving the with-block without commit removes it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        folder = self.path.parent
        if self.path.is_dir():
            raise BadInput(f"-o {self.path} is a folder; give a file name inside it")
        if not folder.is_dir():
            raise BadInput(f"output folder {folder} does not exist; create it first")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=folder)
        except OSError as exc:
            raise BadInput(f"cannot write to output folder {folder}: {exc.strerror or exc}") from None
        os.close(fd)
        self._part = Path(name)

    def commit(self, data: bytes) -> None:
        try:
            with open(self._part, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(self._part, _mode_for(self.path))
            os.replace(self._part, self.path)
        except OSError as exc:
            kept = "left as it was" if self.path.exists() else "not created"
            raise FaceswapError(f"could not write {self.path}: {exc.strerror or exc}; it was {kept}") from None

    def discard(self) -> None:
        self._part.unlink(missing_ok=True)

    def __enter__(self) -> "PendingOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


def _mode_for(path: Path) -> int:
    """An existing file keeps its permissions; a new one gets the umask's (mkstemp's are 0600)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
