"""The archive the Comfy Registry would publish (git-tracked files less .comfyignore, as
`comfy node publish` builds it: tools/registry_archive.py) holds the pack and nothing for developers:
no tests, fixtures, benchmarks, tools, caches or symbolic links."""

from __future__ import annotations

import tomllib
import zipfile

from support import REPO
from registry_archive import build, symlinks


def test_the_published_archive_holds_the_pack_and_no_developer_files(tmp_path):
    files = build(tmp_path / "node.zip")
    with zipfile.ZipFile(tmp_path / "node.zip") as archive:
        assert sorted(archive.namelist()) == files
    assert {"__init__.py", "pyproject.toml", "requirements.txt", "README.md", "locales/en/main.json",
            "web/faceswap_v3_toasts.js", "nodes/swap_faces.py", "pipeline/errors.py"} <= set(files)
    assert any(path.startswith("workflows/") and path.endswith(".json") for path in files)
    for path in files:
        top = path.split("/")[0]
        assert top not in ("tests", "bench", "tools", ".ci", "shared", "fixtures", ".venv", ".comfyui"), path
        assert "__pycache__" not in path and not path.endswith((".pyc", ".pyo")), path
        assert not (REPO / path).is_symlink(), path
    assert symlinks() == []


def test_registry_fields_are_real():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["version"] and project["project"]["name"] == "comfyui-faceswap-v3"
    comfy = project["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] == "Faceswap V3"
    assert "Icon" not in comfy or comfy["Icon"], "an empty Icon is a placeholder"
    repository = project["project"].get("urls", {}).get("Repository")
    placeholder = "https://github.com/faceswap-v3/comfyui-faceswap-v3"  # shipped before, never existed
    assert repository is None or (repository.startswith("https://") and repository != placeholder)
