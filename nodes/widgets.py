"""Widget definitions shared by several nodes: the API's parameters, with its values and defaults."""

from __future__ import annotations

from ..pipeline.analysis.detectors import detector_choices
from ..pipeline.swap.face_masks import REGION_IDS
from ..pipeline.models.locate import find_file
from ..pipeline.models.registry import DETECTOR_FILES, MODEL_FILES, OCCLUDER_FILES, PARSER_FILES
from ..pipeline.models.store import ModelStore
from ..pipeline.swap_models import DEFAULT_SWAPPER, MASK_FOLDER, SWAPPER_FOLDERS
from ..pipeline.options import (API_DETECTORS, API_OPTIONS, DEFAULTS, EXTENSIONS, RESTORER_SUFFIXES, RESTORERS,
                                request_options)

WIDGET_TYPES = {str: "STRING", int: "INT", float: "FLOAT", bool: "BOOLEAN"}


def option_widget(name: str, tooltip: str = "", choices: list | None = None) -> tuple:
    """A widget made from the option's entry: its values (or type), default and range; choices: the list it
    offers when that depends on what is installed."""
    option = API_OPTIONS.get(name) or EXTENSIONS[name]
    spec = {"default": option.default}
    if option.low is not None:
        spec.update(min=option.low, max=option.high, step=option.step)
    if tooltip:
        spec["tooltip"] = tooltip
    offered = choices if choices is not None else option.choices
    return (list(offered) if offered else WIDGET_TYPES[option.kind], spec)


def added_option_widgets(placed, api_only: bool = False, left_out: tuple[str, ...] = ()) -> dict:
    """Widgets for the request options a node neither places itself nor leaves out on purpose (api_only: the
    hosted API's parameters only): an option added to options.py reaches the all-in-one and remote nodes as
    their last widgets (a saved workflow's widget values are positional)."""
    names = API_OPTIONS if api_only else request_options()
    return {name: option_widget(name) for name in names if name not in placed and name not in left_out}


def _with_local_files(registered: tuple[str, ...] | list[str], local: list[str]) -> list[str]:
    return list(registered) + [name for name in local if name not in registered]


def _download_status(store: ModelStore | None, names: list[str]) -> str:
    """' On disk: a, b. Downloaded on first use: c.' for the registered files among names."""
    if store is None:
        return ""
    on_disk, missing = [], []
    for name in names:
        path = DETECTOR_FILES.get(name, name)
        if path not in MODEL_FILES:
            continue
        entry = MODEL_FILES[path]
        (on_disk if find_file(entry.name, store.dirs(entry.folder)) else missing).append(name)
    parts = [f"On disk: {', '.join(on_disk)}." if on_disk else "",
             f"Downloaded on first use: {', '.join(missing)}." if missing else ""]
    return " " + " ".join(p for p in parts if p) if any(parts) else ""


def swap_model_widget(store: ModelStore) -> tuple:
    local = [name for folder in SWAPPER_FOLDERS for name in store.available(folder, (".onnx",))]
    choices = _with_local_files([DEFAULT_SWAPPER], list(dict.fromkeys(local)))
    return (choices, {"default": DEFAULT_SWAPPER,
                      "tooltip": "Swapper in models/insightface, models/reswapper or models/hyperswap: inswapper_128 "
                                 "(fp16), ReSwapper 128/256, HyperSwap 1a/1b/1c 256 (recognised from the file; "
                                 "HyperSwap is never downloaded for you, see the README for its licence)."
                                 + _download_status(store, choices)})


def _mask_model_widget(store: ModelStore, registered: tuple[str, ...], default: str, what: str) -> tuple:
    choices = _with_local_files(registered, store.available(MASK_FOLDER, (".onnx",)))
    return (choices, {"default": default, "tooltip": f"{what} (models/face_parsing); used only when "
                                                     "face_mask_types includes it." + _download_status(store, choices)})


PIXEL_BOOST = option_widget("pixel_boost", "Align and paste the face at this size, swapping its N x N interleaved "
                                           "sub-images of the model's size: sharper large faces, N x N model "
                                           "calls. 128x128 is the hosted API's behaviour; HyperSwap needs 256x256+.")
MASK = ("MASK", {"tooltip": "Optional: where this mask is 0 the image never changes (a painted mask, SAM, a face "
                            "parser...). One mask for all frames or one per frame, at the image's size."})


def mask_widgets(store: ModelStore) -> dict:
    """The face-mask widgets, in their saved order (after pixel_boost)."""
    return {
        "face_mask_types": option_widget(
            "face_mask_types", "Masks that shape the pasted face, combined by minimum: box (feathered rectangle), "
                               "occlusion (XSeg: keeps hands, hair, glasses in front of the face), region (BiSeNet: "
                               "only the regions listed below)."),
        "face_mask_blur": option_widget("face_mask_blur", "box: width of the feathered edge, as a fraction of the crop."),
        "face_mask_padding": option_widget("face_mask_padding", "box: extra margin in percent of the crop, one value "
                                                                "or four (top,right,bottom,left), e.g. 0,0,10,0 spares "
                                                                "the chin."),
        "face_mask_regions": option_widget("face_mask_regions",
                                           "region: comma-separated, from " + ", ".join(REGION_IDS) + "; or all."),
        "face_occluder_model": _mask_model_widget(store, OCCLUDER_FILES, DEFAULTS["face_occluder_model"],
                                                  "XSeg occlusion model"),
        "face_parser_model": _mask_model_widget(store, PARSER_FILES, DEFAULTS["face_parser_model"],
                                                "BiSeNet face parser"),
    }


MASK_WIDGET_NAMES = ("face_mask_types", "face_mask_blur", "face_mask_padding", "face_mask_regions",
                     "face_occluder_model", "face_parser_model")


def mask_options(values: dict):
    """MaskOptions from the mask widgets' values (missing ones at their defaults)."""
    from ..pipeline.swap.face_masks import MaskOptions

    return MaskOptions.from_widgets(*(values.get(name, DEFAULTS[name]) for name in MASK_WIDGET_NAMES))


def face_restore_widget(store: ModelStore | None) -> tuple:
    """store None: the API's values only (the remote node)."""
    local = store.available("facerestore_models", RESTORER_SUFFIXES) if store else []
    choices = _with_local_files(RESTORERS, local)
    return option_widget("face_restore", "Restoration model run on each swapped face (models/facerestore_models)."
                         + _download_status(store, choices), choices)


def facedetection_widget(store: ModelStore | None) -> tuple:
    """store None: the API's four detectors only (the remote node)."""
    choices = list(API_DETECTORS) if store is None else detector_choices(store)
    return option_widget("facedetection", "Face detector (5-point landmarks included). The first four are the API's; "
                                          "SCRFD files in models/facedetection are listed too."
                         + _download_status(store, choices), choices)


FRAMES = ("IMAGE", {"tooltip": "One image or a batch of frames."})
ORDER = option_widget("detection_face_order",
                      "How faces are numbered in both images: by box area, top edge or left edge.")
RESTORE_WEIGHT = option_widget("face_restore_weight", "How much of the restored face shows: 1 = fully restored, "
                                                      "0 = no restoration (no model is loaded).")
INTERPOLATION = option_widget("interpolation", "Resampling used to bring the face to the restorer's 512 px and back.")


def gender_widget(which: str = "") -> tuple:
    faces = f"{which} faces" if which else "faces"
    return option_widget("detect_gender_input", f"Keep only {faces} of this gender before indexing.")


def index_widget(which: str = "") -> tuple:
    faces = f"{which} faces" if which else "faces"
    return option_widget("input_faces_index", f"Which {faces} to pick, e.g. 0 or 0,2 (0 is the first in the face "
                                              "order).")


IMAGE_FORMAT = option_widget("image_format", "How the API encodes its result (png is lossless); the IMAGE output "
                                             "is that file decoded.")
IMAGE_QUALITY = option_widget("image_quality", "The API's encoder quality for jpeg and webp.")
LOCAL_IMAGE_FORMAT = (IMAGE_FORMAT[0], {
    **IMAGE_FORMAT[1],
    "tooltip": "The API's output encoding, kept so graphs can switch to the remote node. Acts only where bytes "
               "are produced (the server, the CLI, the remote node): this node's IMAGE is never re-encoded."})
LOCAL_IMAGE_QUALITY = (IMAGE_QUALITY[0], {
    **IMAGE_QUALITY[1],
    "tooltip": "The API's jpeg/webp quality. Acts only where bytes are produced (the server, the CLI, the remote "
               "node): this node's IMAGE is never re-encoded."})
BASE64 = option_widget("base64", "The API's transport switch: the answer comes as base64 JSON instead of image "
                                 "bytes. The IMAGE output is the same either way.")
FIDELITY = option_widget("codeformer_fidelity", "CodeFormer only: 0 = strongest restoration, 1 = closest to the "
                                                "input face.")


# Issue 11: reference mode and face models (optional widgets, so API prompts saved before them still run).
FACE_SELECTOR = option_widget(
    "face_selector", "index: pick target faces by the faces index (the API's behaviour). reference: swap every target "
                     "face whose identity is within reference_distance of the reference (reference_image's face "
                     "picked by the faces index, or reference_face_model), in every frame, whatever its position.")
REFERENCE_DISTANCE = option_widget(
    "reference_distance", "Reference mode: the largest ArcFace cosine distance (1 - similarity) at which a face counts "
                          "as the reference's identity. 0.6 (similarity 0.4) as in FaceFusion; lower is stricter.")
COMPUTE_METHOD = option_widget(
    "compute_method", "How the faces' normed ArcFace embeddings become one identity: their mean, or the element-wise "
                      "median (less swayed by one odd photo).")
# The swapping nodes' outputs (SwapFaces and the all-in-one): a new output only ever goes at the end.
SWAP_RETURN_TYPES = ("IMAGE", "STRING", "MASK", "FLOAT")
SWAP_RETURN_NAMES = ("image", "info", "mask", "face_similarity")
SWAP_OUTPUT_IS_LIST = (False, False, False, True)  # face_similarity: one FLOAT per frame


def swap_output_tooltips(image: str) -> tuple[str, ...]:
    return (image,
            "Faces swapped per frame, where each model ran (e.g. onnxruntime:CUDAExecutionProvider, torch:cuda:0), "
            "the face similarity (and tracks) per frame, and the run's warnings.",
            "Where the swap (and restoration) changed each frame: the union of the paste weights, for inpainting or "
            "blending downstream.",
            "Per frame, with measure_similarity on: ArcFace cosine between the source identity and the swapped "
            "face as output (the lowest when several were swapped; NaN where none was). NaN when it is off.")
TRACK_FACES = option_widget(
    "track_faces", "Batches of video frames: follow the faces picked in the first frame through the batch (box "
                   "overlap and landmarks), so the same person stays swapped when the face order changes; a face "
                   "lost for a few frames is taken back. Off: every frame is numbered afresh, as the API does.")
MEASURE_SIMILARITY = option_widget(
    "measure_similarity", "Score every swapped face against the source identity (face_similarity output, info): one "
                          "more recognizer run per face. Off: face_similarity is NaN and nothing extra runs.")
CONTENT_CHECK = option_widget(
    "content_check", "on: the source, each target frame and each result pass the content check; a blocked frame "
                     "comes out unchanged (never black), with a warning. Needs an installed classifier (pip install "
                     "nudenet, or FaceFusion's nsfw_1/2/3.onnx in models/content_analyser/): nothing is ever "
                     "downloaded or installed for you; without one, info says so.")
