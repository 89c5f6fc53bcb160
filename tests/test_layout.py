"""One home per concept, kept: pipeline/ is the engine alone (importing all of it loads no HTTP server,
database, network client or the pack's server/, net/ and client/ homes), and the Layout section of
docs/development.md names every module where it is."""

from __future__ import annotations

import json
import subprocess
import sys

from support import REPO

# the package's own __init__ (ComfyUI's entry point) loads the nodes: stand in an empty package for it
ENGINE_IMPORTS = """
import importlib, json, pkgutil, sys, types
package = types.ModuleType("faceswap_v3")
package.__path__ = [sys.argv[1]]
sys.modules["faceswap_v3"] = package
import faceswap_v3.pipeline as engine
for module in pkgutil.walk_packages(engine.__path__, "faceswap_v3.pipeline."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_engine_imports_no_server_database_or_network_code():
    done = subprocess.run([sys.executable, "-c", ENGINE_IMPORTS, str(REPO)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert sum(name.startswith("faceswap_v3.pipeline.") for name in loaded) > 40  # it did import the engine
    outside = [name for name in loaded if name.split(".")[0] in ("aiohttp", "sqlite3", "_sqlite3", "httpx", "redis",
                                                                 "arq")
               or name.startswith(("faceswap_v3.server", "faceswap_v3.net", "faceswap_v3.client",
                                   "faceswap_v3.nodes", "faceswap_v3.cli"))]
    assert outside == []


def test_the_layout_section_names_every_module():
    guide = (REPO / "docs" / "development.md").read_text()
    layout = guide[guide.index("## Layout"):]
    layout = layout[:layout.index("\n## ", 1)] if "\n## " in layout[1:] else layout
    missing = [str(path.relative_to(REPO)) for folder in ("pipeline", "net", "server", "client", "nodes", "cli",
                                                         "tools", "bench", "web")
               for path in sorted((REPO / folder).rglob("*"))
               if path.suffix in (".py", ".js") and path.name != "__init__.py" and "__pycache__" not in path.parts
               and f"`{path.name}`" not in layout and f"`{path.relative_to(REPO / folder)}`" not in layout]
    assert missing == [], "add these to the Layout section of docs/development.md"
