"""What ComfyUI users get from the Comfy Registry is what runs inside ComfyUI: the nodes, the engine and
the hosted-API client. The archive is built as the registry's packer (comfy-cli's `comfy node pack` /
`publish`) builds it: git-tracked files less `.comfyignore` (tools/registry_archive.py). The API server and
the cluster worker are not in it (they are installed with pip from a clone: the `server` / `cluster`
extras); the pack extracted from the archive still loads as a ComfyUI custom node and imports every module
it holds, and its command line says how to get the server."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
import zipfile

from registry_archive import build
from support import REPO
from test_pack_import import COMFY_LIKE

SERVER_ONLY = ("server/", "cli/serve.py", "cli/worker.py")

# COMFY_LIKE's loading of the pack (as ComfyUI loads a custom-node folder), then: import every module the
# archive holds (less __main__, which runs the CLI) under the custom-node folder's module name. A module may
# need a library that only ComfyUI or an optional extra brings (psutil, comfy, c2pa): that is listed apart;
# a module of the pack itself missing is the failure this test is for.
IMPORT_ALL = COMFY_LIKE[:COMFY_LIKE.index("\nheavy = ")] + '''
import pkgutil, importlib
imported, elsewhere, missing = [], {}, {}
for found in pkgutil.walk_packages(module.__path__, "ComfyUI-Faceswap-V3.", onerror=lambda name: None):
    if found.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(found.name)
    except ModuleNotFoundError as exc:
        (missing if (exc.name or "").startswith("ComfyUI-Faceswap-V3") else elsewhere)[found.name] = exc.name
        continue
    imported.append(found.name)
print(json.dumps({"nodes": len(module.NODE_CLASS_MAPPINGS), "imported": imported, "elsewhere": elsewhere,
                  "missing": missing, "loaded": sorted(sys.modules)}))
'''


def pack_imports(folder, files: list[str]) -> list[tuple[str, str, bool]]:
    """(file, module, may be an attribute) for every import of a pack module, at the top or inside a function
    (ast), relative or as faceswap_v3.*: the module's dotted path inside the pack; `from . import name` may
    name an attribute of the package instead of a module."""
    found = []
    for path in files:
        if not path.endswith(".py"):
            continue
        package = path.split("/")[:-1]
        for node in ast.walk(ast.parse((folder / path).read_text(), path)):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                stem = [*base, *(node.module.split(".") if node.module else [])]
                found += [(path, ".".join([*stem, alias.name]), True) for alias in node.names] if not node.module \
                    else [(path, ".".join(stem), False)]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [(path, name.split(".", 1)[1], False) for name in names if name.startswith("faceswap_v3.")]
    return found


def extract(tmp_path) -> tuple[list[str], object]:
    files = build(tmp_path / "node.zip")
    folder = tmp_path / "custom_nodes" / "comfyui-faceswap-v3"
    with zipfile.ZipFile(tmp_path / "node.zip") as archive:
        assert sorted(archive.namelist()) == files
        archive.extractall(folder)
    return files, folder


def test_the_archive_holds_the_nodes_engine_and_client_and_no_server(tmp_path):
    files, _ = extract(tmp_path)
    print("\n".join(["", f"the archive holds {len(files)} files:", *files]))
    for path in files:
        assert not path.startswith(SERVER_ONLY), path
    tops = {path.split("/")[0] for path in files}
    assert {"nodes", "pipeline", "client", "net", "web", "workflows", "locales"} <= tops
    assert {"client/segmind_client.py", "nodes/remote_swap.py", "cli/main.py", "cli/detect.py"} <= set(files)
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "server", "cli"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert "server/app.py" in tracked and "cli/serve.py" in tracked  # left out, not missing


def test_the_server_comes_as_pip_extras_and_the_comfyui_requirements_leave_it_out():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0] for requirement in requirements}

    assert "aiohttp" in names(extras["server"]) and {"aiohttp", "arq", "redis"} <= names(extras["cluster"])
    requirements = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    assert "aiohttp" not in requirements and "aiohttp" not in project["dependencies"]
    assert "faceswap_v3.server" in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]  # the pip install of a clone does have it


def test_the_extracted_archive_loads_as_a_custom_node_and_imports_every_module_it_holds(tmp_path):
    files, folder = extract(tmp_path)
    (tmp_path / "input").mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(tmp_path), str(folder)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["nodes"] == 11 and report["missing"] == {}
    print(f"\nimported {len(report['imported'])} modules; needing ComfyUI or an extra: {report['elsewhere']}")
    assert set(report["elsewhere"].values()) <= {"psutil", "comfy", "c2pa", "nudenet", "openvino", "tensorrt"}
    held = {path[:-3].replace("/", ".").removesuffix(".__init__") for path in files
            if path.endswith(".py") and path not in ("__init__.py", "__main__.py")}
    assert {name.removeprefix("ComfyUI-Faceswap-V3.") for name in [*report["imported"], *report["elsewhere"]]} == held
    assert "ComfyUI-Faceswap-V3.nodes.remote_swap" in report["imported"]
    assert "ComfyUI-Faceswap-V3.cli.main" in report["imported"]
    assert [name for name in report["loaded"] if name.split(".")[0] in ("aiohttp", "redis", "arq")
            or name.startswith(("ComfyUI-Faceswap-V3.server", "faceswap_v3")) or name == "faceswap_v3"] == []


def test_no_module_in_the_archive_imports_a_pack_module_the_archive_lacks_even_lazily(tmp_path):
    files, folder = extract(tmp_path)
    held = {path[:-3].replace("/", ".").removesuffix(".__init__") for path in files if path.endswith(".py")}
    packages = {name for name in held if f"{name.replace('.', '/')}/__init__.py" in files}
    lacking = [(path, module) for path, module, attribute in pack_imports(folder, files)
               if module not in held and not (attribute and module.rpartition(".")[0] in packages)]
    assert lacking == [], "these modules import what the archive leaves out"
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "lazy.py").write_text("def later():\n    from ..server.app import FaceswapServer\n")
    assert pack_imports(tmp_path, ["probe/lazy.py"]) == [("probe/lazy.py", "server.app", False)]  # lazy ones too


def test_the_archives_command_line_says_how_to_get_the_server(tmp_path):
    _, folder = extract(tmp_path)
    package = tmp_path / "site" / "faceswap_v3"  # the archive as the pip package name, first on sys.path
    package.parent.mkdir()
    package.symlink_to(folder, target_is_directory=True)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import faceswap_v3; "
            "assert faceswap_v3.__file__.startswith(sys.argv[1]), faceswap_v3.__file__; "
            "from faceswap_v3.cli.main import main; sys.exit(main(sys.argv[2:]))")
    for command in (["serve", "--port", "0"], ["worker", "--redis", "redis://127.0.0.1:1/0"]):
        done = subprocess.run([sys.executable, "-c", code, str(package.parent), *command], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 2, done.stderr[-2000:]
        assert f"`{command[0]}` needs the pack's API server" in done.stderr
        assert 'python -m pip install -e "<clone folder>[server]"' in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    detect = subprocess.run([sys.executable, "-c", code, str(package.parent), "detect", "--help"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert detect.returncode == 0 and "--facedetection" in detect.stdout
