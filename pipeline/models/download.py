"""Resolving a model file, downloading it on first use: temporary name, progress, checksum, rename."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import ModelUnavailable
from .locate import find_file
from .registry import ModelFile

Progress = Callable[[int, "int | None"], None]
ENV_OFFLINE = "FACESWAP_V3_OFFLINE"
_CHUNK = 1 << 20


def ensure_model(entry: ModelFile, dirs: list[Path], progress: Progress | None = None,
                 allow_download: bool = True, timeout_s: float = 60.0) -> Path:
    """Return the path of entry's file, downloading it into dirs[0] if no folder has it."""
    found = find_file(entry.name, dirs)
    if found is not None:
        return found
    looked = ", ".join(str(d) for d in dirs)
    if not allow_download or os.environ.get(ENV_OFFLINE):
        raise ModelUnavailable(
            f"model file {entry.name} not found (looked in: {looked}); downloads are off. "
            f"Get it from {entry.url} and put it in {dirs[0]}"
        )
    destination = dirs[0] / entry.name
    try:
        download_model(entry, destination, progress, timeout_s)
    except ModelUnavailable as exc:
        raise ModelUnavailable(f"{exc} (looked in: {looked})") from None
    return destination


def download_model(entry: ModelFile, destination: Path, progress: Progress | None = None,
                   timeout_s: float = 60.0) -> None:
    """Download entry to destination; the file appears only once complete and verified."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, part_name = tempfile.mkstemp(prefix=destination.name + ".", suffix=".part", dir=destination.parent)
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream_to(entry, out, progress, timeout_s, destination.parent)
        _verify(entry, part, digest)
        if entry.archive_member:
            _extract_archive(entry, part, destination)
        else:
            os.replace(part, destination)
    finally:
        part.unlink(missing_ok=True)


def _stream_to(entry: ModelFile, out, progress: Progress | None, timeout_s: float, folder: Path) -> str:
    import httpx

    digest = hashlib.sha256()
    manual = f"Download it by hand from {entry.url} and put it in {folder}"
    try:
        with httpx.stream("GET", entry.url, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ModelUnavailable(
                    f"could not download {entry.name}: {entry.url} answered HTTP {response.status_code}. {manual}")
            total = int(response.headers["content-length"]) if response.headers.get(
                "content-length", "").isdigit() else entry.size
            done = 0
            if progress:
                progress(0, total)
            for chunk in response.iter_bytes(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except httpx.HTTPError as exc:
        raise ModelUnavailable(
            f"could not download {entry.name} from {entry.url} ({type(exc).__name__}: {exc or 'no answer'}); "
            f"is this machine offline? {manual}") from None
    return digest.hexdigest()


def _verify(entry: ModelFile, part: Path, digest: str) -> None:
    size = part.stat().st_size
    if entry.size is not None and not entry.archive_member and size != entry.size:
        raise ModelUnavailable(
            f"downloaded {entry.name} is {size} bytes, expected {entry.size}; the partial file was removed")
    if entry.sha256 is not None and digest != entry.sha256:
        raise ModelUnavailable(
            f"downloaded {entry.name} has SHA-256 {digest}, expected {entry.sha256}; "
            "the file was removed. Try again, or download it by hand from " + entry.url)


def _extract_archive(entry: ModelFile, archive: Path, destination: Path) -> None:
    """Extract every .onnx of the archive beside destination (one download serves its siblings)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(n).name: n for n in zf.namelist() if n.endswith(".onnx")}
            if entry.archive_member not in members:
                raise ModelUnavailable(f"{entry.url} has no {entry.archive_member}")
            for short, full in members.items():
                target = destination.parent / short
                if target.exists():
                    continue
                tmp = target.with_name(target.name + ".part")
                with zf.open(full) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, target)
    except zipfile.BadZipFile:
        raise ModelUnavailable(f"{entry.url} is not a valid zip archive") from None
