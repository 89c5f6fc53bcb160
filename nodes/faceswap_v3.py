"""Faceswap V3 (all-in-one): the hosted API's parameters, exactly, run locally."""

from __future__ import annotations

from ..pipeline.engine import SwapModels
from ..pipeline.errors import BadInput
from ..pipeline.faceswap import run_faceswap
from ..pipeline.params import FaceswapParams
from . import comfy_env
from .tensors import frames_to_image, image_to_frames
from .widgets import (BASE64, IMAGE_FORMAT, IMAGE_QUALITY, INTERPOLATION, LOCAL_IMAGE_FORMAT, LOCAL_IMAGE_QUALITY,
                      ORDER, RESTORE_WEIGHT, face_restore_widget, facedetection_widget, gender_widget, index_widget)


def api_widgets(store) -> dict:
    """The API's parameters in the API's order, shared with the remote node so graphs can switch.
    store None (the remote node): the API's own values only, and its base64 transport switch. Locally
    nothing is encoded: image_format and image_quality only travel along, and base64 is absent."""
    remote = store is None
    widgets = {
        "input_faces_index": index_widget("target"),
        "source_faces_index": index_widget("source"),
        "face_restore": face_restore_widget(store),
        "interpolation": INTERPOLATION,
        "detection_face_order": ORDER,
        "facedetection": facedetection_widget(store),
        "detect_gender_input": gender_widget("target"),
        "detect_gender_source": gender_widget("source"),
        "face_restore_weight": RESTORE_WEIGHT,
        "image_format": IMAGE_FORMAT if remote else LOCAL_IMAGE_FORMAT,
        "image_quality": IMAGE_QUALITY if remote else LOCAL_IMAGE_QUALITY,
    }
    if remote:
        widgets["base64"] = BASE64
    return widgets


class FaceswapV3:
    CATEGORY = "Faceswap V3/swap"
    DESCRIPTION = ("Segmind's Faceswap V3 in one node, run locally: the same parameters and defaults as the "
                   "hosted API. target_img may be a batch of video frames.")
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "info")
    OUTPUT_TOOLTIPS = ("The target with the chosen faces swapped and restored (never re-encoded: lossless).",
                       "Faces swapped per frame, where each model ran (e.g. onnxruntime:CUDAExecutionProvider, "
                       "torch:cuda:0) and the run's warnings.")
    FUNCTION = "swap"

    @classmethod
    def INPUT_TYPES(cls):
        store = comfy_env.model_store()
        return {
            "required": {
                "source_img": ("IMAGE", {"tooltip": "The face to use (its first frame)."}),
                "target_img": ("IMAGE", {"tooltip": "The image or frames whose faces get replaced."}),
                **api_widgets(store),
            },
        }

    def swap(self, source_img, target_img, base64=None, **api):
        # base64 (a widget before this version) may still come from old API-format workflows: ignored,
        # since a local node produces no bytes to encode.
        params = FaceswapParams.from_mapping(api)
        sources = image_to_frames(source_img)
        if not sources:
            raise BadInput("source_img is an empty batch")
        targets = image_to_frames(target_img)
        models = SwapModels(store=comfy_env.model_store(), device=comfy_env.torch_device())
        after_frame, on_step = comfy_env.step_progress(len(targets))
        result = run_faceswap(sources[0], targets, params, models, after_frame, on_step)
        return (frames_to_image(result.frames), comfy_env.report_run(result))
