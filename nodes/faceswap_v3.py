"""Faceswap V3 (all-in-one): the hosted API's parameters, exactly, run locally."""

from __future__ import annotations

from ..pipeline.engine import SwapModels
from ..pipeline.errors import BadInput
from ..pipeline.faceswap import run_faceswap
from ..pipeline.images import decode_image, encode_image
from ..pipeline.params import FaceswapParams
from . import comfy_env
from .tensors import frames_to_image, image_to_frames, image_to_lazy_frames
from .widgets import (BASE64, IMAGE_FORMAT, IMAGE_QUALITY, INTERPOLATION, ORDER, RESTORE_WEIGHT, TRACK_FACES,
                      face_restore_widget, facedetection_widget, gender_widget, index_widget)


def api_widgets(store) -> dict:
    """The API's parameters in the API's order, shared with the remote node so graphs can switch
    (store None: only the API's own values, no local model files)."""
    return {
        "input_faces_index": index_widget("target"),
        "source_faces_index": index_widget("source"),
        "face_restore": face_restore_widget(store),
        "interpolation": INTERPOLATION,
        "detection_face_order": ORDER,
        "facedetection": facedetection_widget(store),
        "detect_gender_input": gender_widget("target"),
        "detect_gender_source": gender_widget("source"),
        "face_restore_weight": RESTORE_WEIGHT,
        "image_format": IMAGE_FORMAT,
        "image_quality": IMAGE_QUALITY,
        "base64": BASE64,
    }


class FaceswapV3:
    CATEGORY = "Faceswap V3"
    DESCRIPTION = ("Segmind's Faceswap V3 in one node, run locally: the same parameters and defaults as the "
                   "hosted API. target_img may be a batch of video frames.")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The target with the chosen faces swapped and restored.",)
    FUNCTION = "swap"

    @classmethod
    def INPUT_TYPES(cls):
        store = comfy_env.model_store()
        return {
            "required": {
                "source_img": ("IMAGE", {"tooltip": "The face to use (its first frame)."}),
                "target_img": ("IMAGE", {"tooltip": "The image or frames whose faces get replaced."}),
                **api_widgets(store),
                "track_faces": TRACK_FACES,
            },
        }

    def swap(self, source_img, target_img, track_faces=False, **api):
        params = FaceswapParams.from_mapping(api)
        sources = image_to_frames(source_img)
        if not sources:
            raise BadInput("source_img is an empty batch")
        targets = image_to_lazy_frames(target_img)
        models = SwapModels(store=comfy_env.model_store(), device=comfy_env.torch_device())
        result = run_faceswap(sources[0], targets, params, models, comfy_env.frame_progress(len(targets)),
                              track_faces=track_faces)
        for line in result.tracks:
            comfy_env.log.info("FaceswapV3: %s", line)
        frames = [decode_image(encode_image(f, params.image_format, params.image_quality)) for f in result.frames]
        return (frames_to_image(frames),)
