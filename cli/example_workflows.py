"""The example workflows we ship, each built once here as a graph, written in ComfyUI's canvas format
to workflows/NAME.json and, converted from that canvas, in the API format to workflows/api/NAME.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .workflow_format import NodeDefinition, canvas_to_prompt, check_canvas, node_definitions

WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "workflows"
SOURCE_FILE, TARGET_FILE = "faceswap_v3_source.jpg", "faceswap_v3_target.jpg"


@dataclass
class Graph:
    definitions: dict[str, NodeDefinition]
    nodes: list[dict] = field(default_factory=list)
    links: list[list] = field(default_factory=list)

    def add(self, kind: str, pos: tuple[int, int], title: str | None = None, **widgets) -> int:
        node_id = len(self.nodes) + 1
        node = {"id": node_id, "type": kind, "pos": list(pos), "size": [320, 260], "flags": {},
                "order": node_id - 1, "mode": 0, "properties": {"Node name for S&R": kind}}
        if title:
            node["title"] = title
        if kind in ("Note", "MarkdownNote"):
            node.update(size=[420, 220], widgets_values=[widgets["text"]])
        else:
            definition = self.definitions[kind]
            unknown = set(widgets) - set(definition.widget_names())
            if unknown:
                raise KeyError(f"{kind} has no widget(s) {sorted(unknown)}")
            node["inputs"] = [{"name": name, "type": definition.inputs[name][0], "link": None}
                              for name in definition.socket_names()]
            names = getattr(_node_class(kind), "RETURN_NAMES", None) or definition.outputs
            node["outputs"] = [{"name": n, "type": t, "links": [], "slot_index": i}
                               for i, (n, t) in enumerate(zip(names, definition.outputs))]
            values = []
            for name in definition.widget_names():
                values.append(widgets[name] if name in widgets else _default(definition.inputs[name]))
                if definition.uploads(name):
                    values.append("image")
            node["widgets_values"] = values
        self.nodes.append(node)
        return node_id

    def connect(self, from_id: int, from_slot: int, to_id: int, input_name: str) -> None:
        source, target = self.nodes[from_id - 1], self.nodes[to_id - 1]
        link_id = len(self.links) + 1
        kind = source["outputs"][from_slot]["type"]
        to_slot = next(i for i, s in enumerate(target["inputs"]) if s["name"] == input_name)
        target["inputs"][to_slot]["link"] = link_id
        source["outputs"][from_slot]["links"].append(link_id)
        self.links.append([link_id, from_id, from_slot, to_id, to_slot, kind])

    def canvas(self) -> dict:
        return {"last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes,
                "links": self.links, "groups": [], "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}},
                "version": 0.4}


def _node_class(kind: str):
    from ..nodes import NODE_CLASS_MAPPINGS

    return NODE_CLASS_MAPPINGS.get(kind)


def _default(spec: tuple):
    options = spec[1] if len(spec) > 1 else {}
    if "default" in options:
        return options["default"]
    if isinstance(spec[0], list):
        return spec[0][0] if spec[0] else ""
    return {"STRING": "", "INT": 0, "FLOAT": 0.0, "BOOLEAN": False}[spec[0]]


def _load_pair(g: Graph, y: int = 0) -> tuple[int, int]:
    source = g.add("LoadImage", (0, y), "Source face", image=SOURCE_FILE)
    target = g.add("LoadImage", (0, y + 380), "Target image", image=TARGET_FILE)
    return source, target


def all_in_one(g: Graph) -> None:
    g.add("MarkdownNote", (0, -260), text=(
        "**Faceswap V3, all in one.** Every parameter of Segmind's Faceswap V3 API, with its defaults, "
        "run locally. Pick a source face and a target image; models download on first use."))
    source, target = _load_pair(g)
    swap = g.add("FaceswapV3", (380, 0))
    g.connect(source, 0, swap, "source_img")
    g.connect(target, 0, swap, "target_img")
    g.connect(swap, 0, g.add("SaveImage", (780, 0), filename_prefix="faceswap_v3"), "images")


def separate_nodes(g: Graph) -> None:
    g.add("MarkdownNote", (0, -260), text=(
        "**The same swap, node by node.** Load Face -> Detect Faces (numbered preview) -> Swap Faces -> "
        "Restore Face. Change faces_index after looking at the previews."))
    source = g.add("FaceswapV3LoadFace", (0, 0), "Source face", image=SOURCE_FILE)
    target = g.add("FaceswapV3LoadFace", (0, 380), "Target image", image=TARGET_FILE)
    source_faces = g.add("FaceswapV3DetectFaces", (380, 0), "Source faces")
    target_faces = g.add("FaceswapV3DetectFaces", (380, 380), "Target faces")
    g.connect(source, 0, source_faces, "image")
    g.connect(target, 0, target_faces, "image")
    swap = g.add("FaceswapV3SwapFaces", (780, 200))
    g.connect(target, 0, swap, "target_image")
    g.connect(target_faces, 0, swap, "target_faces")
    g.connect(source_faces, 0, swap, "source_faces")
    restore = g.add("FaceswapV3RestoreFace", (1160, 200))
    g.connect(swap, 0, restore, "image")
    g.connect(target_faces, 0, restore, "faces")
    g.connect(restore, 0, g.add("SaveImage", (1540, 200), filename_prefix="faceswap_v3_nodes"), "images")
    g.connect(source_faces, 1, g.add("PreviewImage", (780, -300), "Numbered source faces"), "images")
    g.connect(target_faces, 1, g.add("PreviewImage", (780, 600), "Numbered target faces"), "images")


def multi_face(g: Graph) -> None:
    g.add("MarkdownNote", (0, -260), text=(
        "**Several faces.** Top: the source's faces 1 and 0 (left to right) go onto the target's faces 0 and 1. "
        "Bottom: only the target's women are swapped, with the source's first face."))
    source, target = _load_pair(g)
    by_index = g.add("FaceswapV3", (380, 0), "Two faces by index", input_faces_index="0,1",
                     source_faces_index="1,0", detection_face_order="left-right")
    by_gender = g.add("FaceswapV3", (380, 600), "Women only, by gender", detect_gender_input="female",
                      input_faces_index="0,1")
    for swap, prefix in ((by_index, "faceswap_v3_by_index"), (by_gender, "faceswap_v3_by_gender")):
        g.connect(source, 0, swap, "source_img")
        g.connect(target, 0, swap, "target_img")
        g.connect(swap, 0, g.add("SaveImage", (780, 0 if swap == by_index else 600), filename_prefix=prefix),
                  "images")


def video_frames(g: Graph) -> None:
    g.add("MarkdownNote", (0, -260), text=(
        "**A batch of frames.** Frames loaded as one IMAGE batch (Image Batch resizes to the first frame) are "
        "swapped frame by frame; the source face is analysed once. Frames without a face pass through."))
    source = g.add("LoadImage", (0, 0), "Source face", image=SOURCE_FILE)
    frames = [g.add("LoadImage", (0, 380 * (i + 1)), f"Frame {i + 1}", image=TARGET_FILE) for i in range(3)]
    first = g.add("ImageBatch", (380, 400))
    g.connect(frames[0], 0, first, "image1")
    g.connect(frames[1], 0, first, "image2")
    batch = g.add("ImageBatch", (380, 700))
    g.connect(first, 0, batch, "image1")
    g.connect(frames[2], 0, batch, "image2")
    swap = g.add("FaceswapV3", (760, 0), face_restore_weight=0.0)
    g.connect(source, 0, swap, "source_img")
    g.connect(batch, 0, swap, "target_img")
    g.connect(swap, 0, g.add("SaveImage", (1140, 0), filename_prefix="faceswap_v3_frames"), "images")


def hosted_api(g: Graph) -> None:
    g.add("MarkdownNote", (0, -260), text=(
        "**Segmind's hosted API.** Set SEGMIND_API_KEY in the environment ComfyUI starts from (don't type the "
        "key into the node: workflows and PNGs would carry it). Same widgets as the local all-in-one node."))
    source, target = _load_pair(g)
    remote = g.add("FaceswapV3SegmindRemoteSwap", (380, 0))
    g.connect(source, 0, remote, "source_img")
    g.connect(target, 0, remote, "target_img")
    g.connect(remote, 0, g.add("SaveImage", (780, 0), filename_prefix="faceswap_v3_hosted"), "images")


def with_core_nodes(g: Graph) -> None:
    g.add("MarkdownNote", (0, -260), text=(
        "**In a bigger graph.** ComfyUI's own nodes around the swap: the target is scaled to 1024x1024 first, "
        "the result is previewed and saved."))
    source, target = _load_pair(g)
    scale = g.add("ImageScale", (380, 380), upscale_method="lanczos", width=1024, height=1024, crop="center")
    g.connect(target, 0, scale, "image")
    swap = g.add("FaceswapV3", (760, 0))
    g.connect(source, 0, swap, "source_img")
    g.connect(scale, 0, swap, "target_img")
    g.connect(swap, 0, g.add("PreviewImage", (1140, 0)), "images")
    g.connect(swap, 0, g.add("SaveImage", (1140, 400), filename_prefix="faceswap_v3_scaled"), "images")


EXAMPLES = {
    "01_faceswap_v3_all_in_one": all_in_one,
    "02_faceswap_v3_separate_nodes": separate_nodes,
    "03_faceswap_v3_multiple_faces": multi_face,
    "04_faceswap_v3_video_frames_batch": video_frames,
    "05_faceswap_v3_hosted_api": hosted_api,
    "06_faceswap_v3_with_core_nodes": with_core_nodes,
}


def build(definitions: dict[str, NodeDefinition] | None = None) -> dict[str, tuple[dict, dict]]:
    """{name: (canvas, prompt)} for every example; raises if a canvas has a problem."""
    definitions = definitions or node_definitions()
    built = {}
    for name, make in EXAMPLES.items():
        graph = Graph(definitions)
        make(graph)
        canvas = graph.canvas()
        problems = check_canvas(canvas, definitions)
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))
        built[name] = (canvas, canvas_to_prompt(canvas, definitions))
    return built


def dump(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def add_parser(commands) -> None:
    p = commands.add_parser("workflows", help="write (or --check) the example workflows and their API twins")
    p.add_argument("--check", action="store_true", help="fail if the files on disk are not what would be written")
    p.add_argument("--dir", type=Path, default=WORKFLOWS_DIR)
    p.set_defaults(run=run)


def run(args) -> int:
    import os

    # the files must not depend on this machine's model files, which the node definitions list
    os.environ["FACESWAP_V3_MODELS"] = os.environ["XDG_CACHE_HOME"] = os.devnull
    stale = []
    for name, (canvas, prompt) in build().items():
        for path, data in ((args.dir / f"{name}.json", canvas), (args.dir / "api" / f"{name}.json", prompt)):
            if args.check:
                if not path.is_file() or path.read_text() != dump(data):
                    stale.append(str(path))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(dump(data))
    if stale:
        print("out of date (run `python -m faceswap_v3 workflows`): " + ", ".join(stale))
        return 1
    print("workflows are up to date" if args.check else f"wrote {len(EXAMPLES)} workflows to {args.dir}")
    return 0
