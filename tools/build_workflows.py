"""Build the example workflows in ComfyUI's real frontend and write them to workflows/.

Developer tool, not part of the installed package. It starts ComfyUI (COMFYUI_DIR, run by
COMFYUI_PYTHON) with this pack, opens its web page in headless Chromium and, for each description in
tools/example_workflows.py, creates the nodes with the page's own LiteGraph API, sets widgets by name,
links outputs to inputs by name and fits the view to the whole graph. What the frontend then saves
is written as workflows/NAME.json and its own graph-to-prompt conversion as workflows/api/NAME.json.
Each template's graph, as the page draws it, becomes its thumbnail workflows/NAME.jpg (listed in
SHIPPED_IMAGES.tsv: update its sha256 column after a rebuild, tests/test_shipped_images.py says how).
It runs in the first ComfyUI of COMFYUI_ENVS (.ci/run writes .comfyui/envs.json) or COMFYUI_DIR:

    COMFYUI_ENVS=.comfyui/envs.json .venv/bin/python tools/build_workflows.py [--check] [--no-thumbnails]

--check writes nothing and exits 1 when a file on disk differs from what the frontend builds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import comfyui_harness as harness  # noqa: E402
from comfyui_frontend import Frontend, build_examples, point_at_test_inputs, run_in_frontend  # noqa: E402

THUMBNAIL_WIDTH = 480


def dump_json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def stale_files(built: dict, folder: Path) -> list[Path]:
    stale = []
    for name, (workflow, prompt) in built.items():
        for path, data in ((folder / f"{name}.json", workflow), (folder / "api" / f"{name}.json", prompt)):
            if not path.is_file() or path.read_text() != dump_json(data):
                stale.append(path)
    return stale


def write(built: dict, folder: Path) -> None:
    (folder / "api").mkdir(parents=True, exist_ok=True)
    for name, (workflow, prompt) in built.items():
        (folder / f"{name}.json").write_text(dump_json(workflow))
        (folder / "api" / f"{name}.json").write_text(dump_json(prompt))


def write_thumbnails(frontend: Frontend, built: dict, folder: Path) -> None:
    """Each template's thumbnail is a picture of its own graph as the frontend draws it (its stored view,
    photo loaders empty): licence-clean, and it shows what the template does."""
    import io

    from PIL import Image

    for name, (workflow, _) in built.items():
        frontend.load(workflow)
        with Image.open(io.BytesIO(frontend.canvas_png())) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH))
            image.save(folder / f"{name}.jpg", quality=85)
        print(f"thumbnail {name}.jpg: the graph as drawn by the frontend")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    parser.add_argument("--no-thumbnails", action="store_true", help="do not redraw the thumbnails")
    parser.add_argument("--dir", type=Path, default=REPO / "workflows")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="faceswap-v3-workflows-") as scratch:
        scratch = Path(scratch)
        thumbnails = not (args.check or args.no_thumbnails)
        base = harness.prepare_base(scratch / "base")
        with harness.comfyui_server(harness.default_environment(), base) as server:
            frontend = Frontend(server.url)
            try:
                built = build_examples(frontend)
                if args.check:
                    stale = stale_files(built, args.dir)
                    if stale:
                        print("out of date (run tools/build_workflows.py): " + ", ".join(map(str, stale)))
                        return 1
                    print("workflows are up to date")
                    return 0
                write(built, args.dir)
                print(f"wrote {len(built)} workflows and their API twins to {args.dir}")
                if thumbnails:
                    write_thumbnails(frontend, built, args.dir)
            finally:
                frontend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
