"""The example workflows we ship, described by name only: node types, widget values by widget name,
links by output and input name, positions, titles and the note. `tools/build_workflows.py` builds each
one in ComfyUI's real frontend, which alone decides the saved layout (widget order, upload values,
links), and writes workflows/NAME.json (canvas) and workflows/api/NAME.json (API prompt).

Photo loaders are left empty so a template never points at a photo the user lacks: the note says what
to pick, and a first Run says which input to set."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_TITLE, TARGET_TITLE = "Source face: pick a photo", "Target image: pick a photo"
VIDEO_TITLE = "Target video: pick a video"
# Photo loaders name no file ("": the page then fetches no preview; a placeholder name it would fetch
# again and again): Run says which input to set. comfyui_frontend.name_no_photo writes it into the saved files
# (the frontend saves an empty image widget as the input folder's first file).
NO_PHOTO = ""
PHOTO_LOADERS = {"FaceswapV3LoadFace": {"image": NO_PHOTO, "url_or_path_or_base64": ""},
                 "LoadImage": {"image": NO_PHOTO}, "LoadVideo": {"file": NO_PHOTO}}
RESULT_SIZE = (300, 320)  # room for the result's preview
PHOTO_SIZE = (300, 340)  # a photo loader with room for the picked photo's preview (the newer frontends grow
PHOTO_ROW = 400          # the node to show it; loaders stacked PHOTO_ROW apart never cover each other)
ALL_IN_ONE_ROW = 920  # all-in-one nodes stacked this far apart never cover each other (Vue draws them 864 high)
PICK_PHOTOS = ("To start: in each Load Face node pick a photo in `image` (or upload one), or paste a URL, "
               "a file path or base64 into `or URL/path`.")
# What frontend 1.27 measures these nodes at, written down: mid-load it sometimes measures a node 212 px
# taller (its widgets' input slots counted), and a template must be built the same every time. Measure
# again (leave a kind out, build, read its size) when a node's widgets change.
MEASURED_SIZES = {"FaceswapV3": (300.427734375, 686), "FaceswapV3DetectFaces": (280.4097595214844, 242),
                  "FaceswapV3SwapFaces": (285.75, 398), "FaceswapV3RestoreFace": (281.9683532714844, 194),
                  "FaceswapV3SegmindRemoteSwap": (330, 530), "ImageScale": (270, 130),
                  "PreviewImage": (300, 320)}


@dataclass
class Example:
    """One workflow: add nodes under short keys, then link them by output and input names."""
    note: str
    nodes: list[dict] = field(default_factory=list)
    links: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __post_init__(self):
        self.node("note", "MarkdownNote", (0, -200), size=(640, 150), text=self.note)

    def node(self, key: str, kind: str, pos: tuple[int, int], title: str | None = None,
             size: tuple[int, int] | None = None, **widgets) -> str:
        widgets = {**PHOTO_LOADERS.get(kind, {}), **widgets}
        size = size or (PHOTO_SIZE if kind in PHOTO_LOADERS else MEASURED_SIZES.get(kind))
        self.nodes.append({"key": key, "type": kind, "pos": list(pos), "title": title,
                           "size": list(size) if size else None, "widgets": widgets})
        return key

    def link(self, source: str, output: str, target: str, input_name: str) -> None:
        self.links.append((source, output, target, input_name))

    def description(self) -> dict:
        """The JSON the builder in the page reads."""
        return {"nodes": self.nodes, "links": [list(link) for link in self.links]}


def _photo_pair(w: Example, x: int = 0) -> tuple[str, str]:
    return (w.node("source", "FaceswapV3LoadFace", (x, 0), SOURCE_TITLE),
            w.node("target", "FaceswapV3LoadFace", (x, PHOTO_ROW), TARGET_TITLE))


def _one_swap(note: str, kind: str, save_x: int, prefix: str) -> Example:
    """Two photos -> one swapping node -> Save Image."""
    w = Example(note)
    source, target = _photo_pair(w)
    w.node("swap", kind, (340, 0))
    w.link(source, "image", "swap", "source_img")
    w.link(target, "image", "swap", "target_img")
    w.node("save", "FaceswapV3SaveImageMarked", (save_x, 0), size=RESULT_SIZE, filename_prefix=prefix)
    w.link("swap", "image", "save", "images")
    return w


def all_in_one() -> Example:
    return _one_swap("**Faceswap V3, all in one.** Every parameter of Segmind's Faceswap V3 API, with its "
                     "defaults, run locally; models download on first use.\n\n" + PICK_PHOTOS,
                     "FaceswapV3", 680, "faceswap_v3")


def separate_nodes() -> Example:
    w = Example("**The same swap, node by node.** Load Face -> Detect Faces (numbered preview) -> Swap Faces -> "
                "Restore Face. Change faces_index after looking at the previews.\n\n" + PICK_PHOTOS)
    source, target = _photo_pair(w)
    w.node("source_faces", "FaceswapV3DetectFaces", (340, 0), "Source faces")
    w.node("target_faces", "FaceswapV3DetectFaces", (340, PHOTO_ROW), "Target faces")
    w.link(source, "image", "source_faces", "image")
    w.link(target, "image", "target_faces", "image")
    w.node("swap", "FaceswapV3SwapFaces", (680, 200))
    w.link(target, "image", "swap", "target_image")
    w.link("target_faces", "faces", "swap", "target_faces")
    w.link("source_faces", "faces", "swap", "source_faces")
    w.node("restore", "FaceswapV3RestoreFace", (1000, 200))
    w.link("swap", "image", "restore", "image")
    w.link("target_faces", "faces", "restore", "faces")
    w.node("save", "FaceswapV3SaveImageMarked", (1320, 200), size=RESULT_SIZE, filename_prefix="faceswap_v3_nodes")
    w.link("restore", "image", "save", "images")
    w.node("source_preview", "PreviewImage", (680, -200), "Numbered source faces", size=(300, 270))
    w.link("source_faces", "preview", "source_preview", "images")
    # below Swap Faces as the Vue renderer draws it (taller than on the canvas)
    w.node("target_preview", "PreviewImage", (680, 760), "Numbered target faces", size=(300, 320))
    w.link("target_faces", "preview", "target_preview", "images")
    return w


def multi_face() -> Example:
    w = Example("**Several faces.** Top: the source's faces 1 and 0 (left to right) go onto the target's faces "
                "0 and 1. Bottom: only the target's women are swapped, with the source's first face.\n\n"
                + PICK_PHOTOS)
    source, target = _photo_pair(w)
    w.node("by_index", "FaceswapV3", (340, 0), "Two faces by index", input_faces_index="0,1",
           source_faces_index="1,0", detection_face_order="left-right")
    w.node("by_gender", "FaceswapV3", (340, ALL_IN_ONE_ROW), "Women only, by gender", detect_gender_input="female",
           input_faces_index="0,1")
    for swap, prefix, y in (("by_index", "faceswap_v3_by_index", 0),
                            ("by_gender", "faceswap_v3_by_gender", ALL_IN_ONE_ROW)):
        w.link(source, "image", swap, "source_img")
        w.link(target, "image", swap, "target_img")
        w.node(f"save_{swap}", "FaceswapV3SaveImageMarked", (680, y), size=RESULT_SIZE, filename_prefix=prefix)
        w.link(swap, "image", f"save_{swap}", "images")
    return w


def video_frames() -> Example:
    w = Example("**A video's frames.** ComfyUI's own Load Video and Get Video Components give the video's frames as "
                "one IMAGE batch; each frame is swapped (the source face is analysed once, frames without a face "
                "pass through) and saved as a marked PNG. For an .mp4, add Create Video and Save Video after the "
                "swap (they carry no AI mark).\n\nTo start: pick a photo in Load Face (or paste a URL, a file "
                "path or base64 into `or URL/path`) and a video in Load Video (or upload one).")
    w.node("source", "FaceswapV3LoadFace", (0, 0), SOURCE_TITLE)
    w.node("video", "LoadVideo", (0, PHOTO_ROW), VIDEO_TITLE)
    w.node("frames", "GetVideoComponents", (340, PHOTO_ROW))
    w.link("video", "VIDEO", "frames", "video")
    w.node("swap", "FaceswapV3", (680, 0), face_restore_weight=0.0)
    w.link("source", "image", "swap", "source_img")
    w.link("frames", "images", "swap", "target_img")
    w.node("save", "FaceswapV3SaveImageMarked", (1020, 0), size=RESULT_SIZE, filename_prefix="faceswap_v3_frames")
    w.link("swap", "image", "save", "images")
    return w


def hosted_api() -> Example:
    return _one_swap("**Segmind's hosted API.** Set SEGMIND_API_KEY in the environment ComfyUI starts from (don't "
                     "type the key into the node: workflows and PNGs would carry it). Same widgets as the local "
                     "all-in-one node.\n\n" + PICK_PHOTOS, "FaceswapV3SegmindRemoteSwap", 710, "faceswap_v3_hosted")


def with_core_nodes() -> Example:
    # the target comes from Load Face too: core Load Image with no file picked passes ComfyUI's check (its
    # input folder exists) and fails when run, where Load Face says at once which photo to pick
    w = Example("**In a bigger graph.** ComfyUI's own Image Scale feeds the swap (the target is scaled to "
                "1024x1024 first); the result is previewed with ComfyUI's Preview Image and saved.\n\n" + PICK_PHOTOS)
    source, target = _photo_pair(w)
    w.node("scale", "ImageScale", (340, PHOTO_ROW), upscale_method="lanczos", width=1024, height=1024, crop="center")
    w.link(target, "image", "scale", "image")
    w.node("swap", "FaceswapV3", (660, 0))
    w.link(source, "image", "swap", "source_img")
    w.link("scale", "IMAGE", "swap", "target_img")
    w.node("preview", "PreviewImage", (1000, 0), size=RESULT_SIZE)
    w.link("swap", "image", "preview", "images")
    w.node("save", "FaceswapV3SaveImageMarked", (1000, 360), size=RESULT_SIZE, filename_prefix="faceswap_v3_scaled")
    w.link("swap", "image", "save", "images")
    return w


EXAMPLES = {
    "1. Swap a face with one node": all_in_one,
    "2. Swap a face step by step": separate_nodes,
    "3. Swap several faces": multi_face,
    "4. Swap faces in video frames": video_frames,
    "5. Swap with the hosted API": hosted_api,
    "6. Swap inside a core ComfyUI graph": with_core_nodes,
}
