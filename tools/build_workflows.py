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
from comfyui_frontend import Frontend, build_examples  # noqa: E402

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


# What each template does, in a line under its graph: at card size the nodes' own text is too small to read.
CAPTIONS = {
    "1. Swap a face with one node": "two photos, one node, one result",
    "2. Swap a face step by step": "detect (numbered faces) -> swap -> restore",
    "3. Swap several faces": "two faces by index; women only, by gender",
    "4. Swap faces in video frames": "one face onto every frame of a video",
    "5. Swap with the hosted API": "the same swap on Segmind's hosted API",
    "6. Swap inside a core ComfyUI graph": "with ComfyUI's own Image Scale and Preview",
}
THUMBNAIL_SIZE = (480, 360)
CAPTION_HEIGHT = 64

_GRAPH_PIXELS = """
const app = window.app, canvas = app.canvas;
canvas.show_info = false;  // no FPS and node counts in the picture
canvas.min_font_size_for_lod = 0;  // widgets drawn in full at any zoom
let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
for (const node of app.graph.nodes) {
    const [x, y, w, h] = node.boundingRect;
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
}
const margin = 20;
canvas.ds.fitToBounds([x0 - margin, y0 - margin, x1 - x0 + 2 * margin, y1 - y0 + 2 * margin], {zoom: 1});
canvas.setDirty(true, true);
canvas.draw(true, true);
const {scale, offset} = canvas.ds;
const ratio = canvas.canvas.width / canvas.canvas.clientWidth;
const box = [x0 - margin, y0 - margin, x1 + margin, y1 + margin].map(
    (v, i) => Math.round((v + offset[i % 2]) * scale * ratio));
return {png: canvas.canvas.toDataURL("image/png"), box};
"""


def write_thumbnails(frontend: Frontend, built: dict, folder: Path) -> None:
    """Each template's thumbnail is its own graph as the frontend draws it (its photo loaders empty), cut to
    the nodes (no empty canvas, zoom toolbar or FPS text), with a caption saying what it does: licence-clean,
    and told apart at card size."""
    import base64
    import io

    from PIL import Image, ImageDraw, ImageFont

    width, height = THUMBNAIL_SIZE
    for name, (workflow, _) in built.items():
        frontend.load(workflow)
        drawn = frontend.run(_GRAPH_PIXELS)
        with Image.open(io.BytesIO(base64.b64decode(drawn["png"].split(",", 1)[1]))) as image:
            graph = image.convert("RGB").crop(tuple(drawn["box"]))
        graph.thumbnail((width, height - CAPTION_HEIGHT), Image.LANCZOS)
        card = Image.new("RGB", THUMBNAIL_SIZE, (32, 32, 32))
        card.paste(graph, ((width - graph.width) // 2, (height - CAPTION_HEIGHT - graph.height) // 2))
        draw = ImageDraw.Draw(card)
        draw.rectangle((0, height - CAPTION_HEIGHT, width, height), fill=(24, 72, 120))
        size = 28  # the largest that fits the card's width
        while draw.textlength(CAPTIONS[name], font=ImageFont.load_default(size=size)) > width - 24:
            size -= 1
        draw.text((width // 2, height - CAPTION_HEIGHT // 2), CAPTIONS[name], font=ImageFont.load_default(size=size),
                  fill="white", anchor="mm")
        card.save(folder / f"{name}.jpg", quality=85)
        print(f"thumbnail {name}.jpg: the graph as drawn by the frontend, captioned")


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
