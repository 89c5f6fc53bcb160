"""Resolving a model file, downloading it on first use: temporary name, progress, checksum, rename."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import ModelMissing, ModelUnavailable
from .locate import find_file
from .registry import ModelFile

Progress = Callable[[int, "int | None"], None]
ENV_OFFLINE = "FACESWAP_V3_OFFLINE"
_CHUNK = 1 << 20


def ensure_model(entry: ModelFile, dirs: list[Path], progress: Progress | None = None,
                 allow_download: bool = True, timeout_s: float = 60.0) -> Path:
    """Return the path of entry's file, downloading it into dirs[0] if no folder has it; ModelMissing when
    downloads are off or the download fails."""
    found = find_file(entry.name, dirs)
    if found is not None:
        return found
    looked = ", ".join(str(d) for d in dirs)
    destination = dirs[0] / entry.name
    if not allow_download or os.environ.get(ENV_OFFLINE):
        raise ModelMissing(
            f"model file {entry.name} not found (looked in: {looked}); downloads are off. "
            f"Get it from {entry.url} and {placement(entry, destination)}", entry.name, (entry.folder,))
    try:
        download_model(entry, destination, progress, timeout_s)
    except ModelUnavailable as exc:
        raise ModelMissing(f"{exc} (looked in: {looked})", entry.name, (entry.folder,), download_failed=True) from None
    return destination


def placement(entry: ModelFile, destination: Path) -> str:
    """Where a file downloaded by hand goes, under the exact name the pack looks for (which may differ from
    the download's, as CodeFormer's does), or, for a file published inside a zip, what to extract where."""
    download = entry.url.rsplit("/", 1)[-1]
    if entry.archive_member:
        size = f", {entry.archive_size / 1e6:.1f} MB" if entry.archive_size else ""
        return (f"extract {entry.archive_member} from it ({download}{size}; its other .onnx files belong beside "
                f"it) into {destination.parent}, so that {destination} exists")
    renamed = f" (the download is named {download})" if download != destination.name else ""
    return f"save it as {destination}{renamed}"


def download_model(entry: ModelFile, destination: Path, progress: Progress | None = None,
                   timeout_s: float = 60.0) -> None:
    """Download entry to destination; the file appears only once complete and verified against its
    published size and SHA-256. Nothing is left behind on failure, no .part file either."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, part_name = tempfile.mkstemp(prefix=destination.name + ".", suffix=".part", dir=destination.parent)
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream_to(entry, out, progress, timeout_s, destination)
        _verify(entry.name, entry.url, part, digest, entry.download_sha256, entry.download_size)
        if entry.archive_member:
            _extract_archive(entry, part, destination)
        else:
            os.replace(part, destination)
    finally:
        part.unlink(missing_ok=True)


def _stream_to(entry: ModelFile, out, progress: Progress | None, timeout_s: float, destination: Path) -> str:
    import httpx

    digest = hashlib.sha256()
    manual = f"Download it by hand from {entry.url} and {placement(entry, destination)}"
    expected = entry.download_size
    try:
        with httpx.stream("GET", entry.url, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ModelUnavailable(
                    f"could not download {entry.name}: {entry.url} answered HTTP {response.status_code}. {manual}")
            total = int(response.headers["content-length"]) if response.headers.get(
                "content-length", "").isdigit() else expected
            done = 0
            if progress:
                progress(0, total)
            for chunk in response.iter_bytes(_CHUNK):
                done += len(chunk)
                if expected is not None and done > expected:
                    raise ModelUnavailable(
                        f"downloaded {entry.name} grew past its published size of {expected} bytes; the partial "
                        f"file was removed. {manual}")
                out.write(chunk)
                digest.update(chunk)
                if progress:
                    progress(done, total)
    except httpx.HTTPError as exc:
        raise ModelUnavailable(
            f"could not download {entry.name} from {entry.url} ({type(exc).__name__}: {exc or 'no answer'}); "
            f"is this machine offline? {manual}") from None
    return digest.hexdigest()


def _verify(name: str, url: str, path: Path, digest: str, sha256: str | None, size: int | None) -> None:
    """Raise ModelUnavailable when path's size or SHA-256 differ from the published ones (the caller
    removes the file)."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ModelUnavailable(
            f"downloaded {name} is {actual} bytes, expected {size}; the file was removed. Try again, or "
            f"download it by hand from {url}")
    if sha256 is not None and digest != sha256:
        raise ModelUnavailable(
            f"downloaded {name} has SHA-256 {digest}, expected {sha256}; the file was removed. Try again, or "
            f"download it by hand from {url}")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract_archive(entry: ModelFile, archive: Path, destination: Path) -> None:
    """Extract every .onnx of the (already verified) archive beside destination: one download serves
    its siblings. Members go to temporary files first and entry's own member is checked against its
    published SHA-256; only then is everything renamed into place, so a failure leaves neither a
    .part file nor half of the set."""
    folder = destination.parent
    parts: dict[Path, Path] = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(n).name: n for n in zf.namelist() if n.endswith(".onnx")}
            if entry.archive_member not in members:
                raise ModelUnavailable(f"{entry.url} has no {entry.archive_member}; nothing was extracted")
            for short, full in members.items():
                target = folder / short
                if target.exists():
                    continue
                fd, part_name = tempfile.mkstemp(prefix=short + ".", suffix=".part", dir=folder)
                parts[target] = Path(part_name)
                with os.fdopen(fd, "wb") as dst, zf.open(full) as src:
                    shutil.copyfileobj(src, dst, _CHUNK)
        if destination in parts:
            _verify(f"{entry.archive_member} (from {Path(entry.url).name})", entry.url, parts[destination],
                    _file_sha256(parts[destination]), entry.sha256, entry.size)
        for target, part in parts.items():
            os.replace(part, target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelUnavailable(f"{entry.url} is not a valid zip archive ({exc}); nothing was extracted") from None
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
