"""The archive the Comfy Registry publishes, built the way `comfy node pack` / `comfy node publish`
build it: every git-tracked file, less those matching `.comfyignore` (gitignore-style patterns), plus
`[tool.comfy] includes`. Developer tool, not part of the installed package.

    .venv/bin/python tools/registry_archive.py [OUT.zip]     # default: dist/node.zip; prints the file list
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tracked_files(repo: Path = REPO) -> list[str]:
    """git ls-files, as the registry's packer lists them."""
    listing = subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True, text=True, check=True)
    return [line for line in listing.stdout.splitlines() if line.strip()]


def symlinks(repo: Path = REPO) -> list[str]:
    """Tracked files git stores as symbolic links (mode 120000)."""
    listing = subprocess.run(["git", "-C", str(repo), "ls-files", "-s"], capture_output=True, text=True, check=True)
    return [line.split("\t", 1)[1] for line in listing.stdout.splitlines() if line.startswith("120000 ")]


def archive_files(repo: Path = REPO) -> list[str]:
    """The paths the registry archive holds, relative to the repository root."""
    import pathspec

    ignore = repo / ".comfyignore"
    patterns = [line.strip() for line in ignore.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")] if ignore.is_file() else []
    spec = pathspec.PathSpec.from_lines("gitwildmatch", patterns)
    includes = tomllib.loads((repo / "pyproject.toml").read_text()).get("tool", {}).get("comfy", {}).get(
        "includes", [])
    forced = [include.strip("/") for include in includes if include.strip("/")]

    def kept(path: str) -> bool:
        return any(path == f or path.startswith(f + "/") for f in forced) or not spec.match_file(path)

    return sorted(path for path in tracked_files(repo) if kept(path) and (repo / path).exists())


def build(out: Path, repo: Path = REPO) -> list[str]:
    files = archive_files(repo)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(repo / path, path)
    return files


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else REPO / "dist" / "node.zip"
    for path in build(out):
        print(path)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
