"""A copy of the pack, with edits, run in a fresh interpreter: how a test shows that a change to one file
(an option entry, a detector entry) is all a contributor has to make."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from support import REPO

PACKAGE_PARTS = ("__init__.py", "__main__.py", "pipeline", "nodes", "cli", "server", "client", "net", "locales")


def edited_pack(root: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """Copy the pack to root/faceswap_v3; edits: {relative file: (marker, text inserted before it)}."""
    package = root / "faceswap_v3"
    package.mkdir()
    for part in PACKAGE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, package / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy(source, package / part)
    for relative, (marker, inserted) in edits.items():
        path = package / relative
        text = path.read_text()
        assert marker in text, f"{relative} no longer has {marker!r}"
        path.write_text(text.replace(marker, inserted + marker, 1))
    return root


def run_probe(root: Path, probe: str, *args: str) -> dict:
    """Run probe (Python printing one JSON line last) with root's copy of the pack importable first."""
    run = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root)!r})\n" + probe, *args],
                         capture_output=True, text=True, timeout=180, cwd=root)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found.pop("package_root") == str(root / "faceswap_v3"), "the probe imported the installed pack"
    return found
