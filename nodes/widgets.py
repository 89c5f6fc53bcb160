"""Widget definitions shared by several nodes: the API's parameters, with its values and defaults."""

from __future__ import annotations

from ..pipeline.detectors import detector_choices
from ..pipeline.face_masks import REGION_IDS
from ..pipeline.models.locate import find_file
from ..pipeline.models.registry import DETECTOR_FILES, MODEL_FILES, OCCLUDER_FILES, PARSER_FILES
from ..pipeline.models.store import ModelStore
from ..pipeline.models.swap_models import DEFAULT_SWAPPER, MASK_FOLDER, SWAPPER_FOLDERS
from ..pipeline.options import (API_DETECTORS, BOOST_SIZES, COMPUTE_METHODS, CONTENT_CHECK_SETTINGS, DEFAULTS,
                                FACE_ORDERS, FACE_SELECTORS, GENDER_FILTERS, IMAGE_FORMATS, INTERPOLATIONS,
                                MASK_TYPE_CHOICES, RESTORER_SUFFIXES, RESTORERS)


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


PIXEL_BOOST = (list(BOOST_SIZES), {"default": DEFAULTS["pixel_boost"],
                                   "tooltip": "Align and paste the face at this size, swapping its N x N interleaved "
                                              "sub-images of the model's size: sharper large faces, N x N model "
                                              "calls. 128x128 is the hosted API's behaviour; HyperSwap needs 256x256+."})
MASK = ("MASK", {"tooltip": "Optional: where this mask is 0 the image never changes (a painted mask, SAM, a face "
                            "parser...). One mask for all frames or one per frame, at the image's size."})


def mask_widgets(store: ModelStore) -> dict:
    """The face-mask widgets, in their saved order (after pixel_boost)."""
    return {
        "face_mask_types": (list(MASK_TYPE_CHOICES), {
            "default": DEFAULTS["face_mask_types"],
            "tooltip": "Masks that shape the pasted face, combined by minimum: box (feathered rectangle), occlusion "
                       "(XSeg: keeps hands, hair, glasses in front of the face), region (BiSeNet: only the regions "
                       "listed below)."}),
        "face_mask_blur": ("FLOAT", {"default": DEFAULTS["face_mask_blur"], "min": 0.0, "max": 0.5, "step": 0.01,
                                     "tooltip": "box: width of the feathered edge, as a fraction of the crop."}),
        "face_mask_padding": ("STRING", {"default": DEFAULTS["face_mask_padding"],
                                         "tooltip": "box: extra margin in percent of the crop, one value or four "
                                                    "(top,right,bottom,left), e.g. 0,0,10,0 spares the chin."}),
        "face_mask_regions": ("STRING", {"default": DEFAULTS["face_mask_regions"],
                                         "tooltip": "region: comma-separated, from " + ", ".join(REGION_IDS)
                                                    + "; or all."}),
        "face_occluder_model": _mask_model_widget(store, OCCLUDER_FILES, DEFAULTS["face_occluder_model"],
                                                  "XSeg occlusion model"),
        "face_parser_model": _mask_model_widget(store, PARSER_FILES, DEFAULTS["face_parser_model"],
                                                "BiSeNet face parser"),
    }


MASK_WIDGET_NAMES = ("face_mask_types", "face_mask_blur", "face_mask_padding", "face_mask_regions",
                     "face_occluder_model", "face_parser_model")


def mask_options(values: dict):
    """MaskOptions from the mask widgets' values (missing ones at their defaults)."""
    from ..pipeline.face_masks import MaskOptions

    return MaskOptions.from_widgets(*(values.get(name, DEFAULTS[name]) for name in MASK_WIDGET_NAMES))


def face_restore_widget(store: ModelStore | None) -> tuple:
    """store None: the API's values only (the remote node)."""
    local = store.available("facerestore_models", RESTORER_SUFFIXES) if store else []
    choices = _with_local_files(RESTORERS, local)
    return (choices, {"default": DEFAULTS["face_restore"],
                      "tooltip": "Restoration model run on each swapped face (models/facerestore_models)."
                                 + _download_status(store, choices)})


def facedetection_widget(store: ModelStore | None) -> tuple:
    """store None: the API's four detectors only (the remote node)."""
    choices = list(API_DETECTORS) if store is None else detector_choices(store)
    return (choices, {
        "default": DEFAULTS["facedetection"],
        "tooltip": "Face detector (5-point landmarks included). The first four are the API's; SCRFD files in "
                   "models/facedetection are listed too." + _download_status(store, choices)})


FRAMES = ("IMAGE", {"tooltip": "One image or a batch of frames."})
ORDER = (list(FACE_ORDERS), {"default": DEFAULTS["detection_face_order"],
                             "tooltip": "How faces are numbered in both images: by box area, top edge or left edge."})
RESTORE_WEIGHT = ("FLOAT", {"default": DEFAULTS["face_restore_weight"], "min": 0.0, "max": 1.0, "step": 0.01,
                            "tooltip": "How much of the restored face shows: 1 = fully restored, 0 = no restoration "
                                       "(no model is loaded)."})
INTERPOLATION = (list(INTERPOLATIONS), {"default": DEFAULTS["interpolation"],
                                        "tooltip": "Resampling used to bring the face to the restorer's 512 px "
                                                   "and back."})


def gender_widget(which: str = "") -> tuple:
    faces = f"{which} faces" if which else "faces"
    return (list(GENDER_FILTERS), {"default": DEFAULTS["detect_gender_input"],
                                   "tooltip": f"Keep only {faces} of this gender before indexing."})


def index_widget(which: str = "") -> tuple:
    faces = f"{which} faces" if which else "faces"
    return ("STRING", {"default": DEFAULTS["input_faces_index"],
                       "tooltip": f"Which {faces} to pick, e.g. 0 or 0,2 (0 is the first in the face order)."})


IMAGE_FORMAT = (list(IMAGE_FORMATS), {"default": DEFAULTS["image_format"],
                                      "tooltip": "How the API encodes its result (png is lossless); the IMAGE output "
                                                 "is that file decoded."})
IMAGE_QUALITY = ("INT", {"default": DEFAULTS["image_quality"], "min": 10, "max": 100, "step": 1,
                         "tooltip": "The API's encoder quality for jpeg and webp."})
LOCAL_IMAGE_FORMAT = (IMAGE_FORMAT[0], {
    **IMAGE_FORMAT[1],
    "tooltip": "The API's output encoding, kept so graphs can switch to the remote node. Acts only where bytes "
               "are produced (the server, the CLI, the remote node): this node's IMAGE is never re-encoded."})
LOCAL_IMAGE_QUALITY = (IMAGE_QUALITY[0], {
    **IMAGE_QUALITY[1],
    "tooltip": "The API's jpeg/webp quality. Acts only where bytes are produced (the server, the CLI, the remote "
               "node): this node's IMAGE is never re-encoded."})
BASE64 = ("BOOLEAN", {"default": DEFAULTS["base64"],
                      "tooltip": "The API's transport switch: the answer comes as base64 JSON instead of image bytes. "
                                 "The IMAGE output is the same either way."})
FIDELITY = ("FLOAT", {"default": DEFAULTS["codeformer_fidelity"], "min": 0.0, "max": 1.0, "step": 0.01,
                      "tooltip": "CodeFormer only: 0 = strongest restoration, 1 = closest to the input face."})


# Issue 11: reference mode and face models (optional widgets, so API prompts saved before them still run).
FACE_SELECTOR = (list(FACE_SELECTORS), {
    "default": DEFAULTS["face_selector"],
    "tooltip": "index: pick target faces by the faces index (the API's behaviour). reference: swap every target "
               "face whose identity is within reference_distance of the reference (reference_image's face picked "
               "by the faces index, or reference_face_model), in every frame, whatever its position."})
REFERENCE_DISTANCE = ("FLOAT", {
    "default": DEFAULTS["reference_distance"], "min": 0.0, "max": 2.0, "step": 0.01,
    "tooltip": "Reference mode: the largest ArcFace cosine distance (1 - similarity) at which a face counts as "
               "the reference's identity. 0.6 (similarity 0.4) as in FaceFusion; lower is stricter."})
COMPUTE_METHOD = (list(COMPUTE_METHODS), {
    "default": DEFAULTS["compute_method"],
    "tooltip": "How the faces' normed ArcFace embeddings become one identity: their mean, or the element-wise "
               "median (less swayed by one odd photo)."})
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
TRACK_FACES = ("BOOLEAN", {"default": DEFAULTS["track_faces"],
                           "tooltip": "Batches of video frames: follow the faces picked in the first frame through "
                                      "the batch (box overlap and landmarks), so the same person stays swapped when "
                                      "the face order changes; a face lost for a few frames is taken back. Off: "
                                      "every frame is numbered afresh, as the API does."})
MEASURE_SIMILARITY = ("BOOLEAN", {"default": DEFAULTS["measure_similarity"],
                                  "tooltip": "Score every swapped face against the source identity (face_similarity "
                                             "output, info): one more recognizer run per face. Off: "
                                             "face_similarity is NaN and nothing extra runs."})
CONTENT_CHECK = (list(CONTENT_CHECK_SETTINGS), {
    "default": DEFAULTS["content_check"],
    "tooltip": "on: the source, each target frame and each result pass the content check; a blocked frame comes "
               "out unchanged (never black), with a warning. Needs an installed classifier (pip install nudenet, "
               "or FaceFusion's nsfw_1/2/3.onnx in models/content_analyser/): nothing is ever downloaded or "
               "installed for you; without one, info says so."})
