"""Faceswap V3 (all-in-one): the hosted API's parameters, exactly, run locally."""

from __future__ import annotations

from ..pipeline.engine import SwapModels
from ..pipeline.errors import BadInput
from ..pipeline.faceswap import run_faceswap
from ..pipeline.images import decode_image, encode_image
from ..pipeline.params import FaceswapParams
from . import comfy_env
from .tensors import arrays_to_mask, frames_to_image, image_to_frames, mask_to_array
from .widgets import (BASE64, IMAGE_FORMAT, IMAGE_QUALITY, INTERPOLATION, MASK, MASK_WIDGET_NAMES, ORDER,
                      PIXEL_BOOST, RESTORE_WEIGHT, face_restore_widget, facedetection_widget, gender_widget,
                      index_widget, mask_options, mask_widgets)


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
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = ("The target with the chosen faces swapped and restored.",
                       "Where the swap and restoration changed each frame (the union of the paste weights).")
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
            # optional, so API-format prompts saved before these existed still validate (defaults apply)
            "optional": {
                "pixel_boost": PIXEL_BOOST,
                **mask_widgets(store),
                "mask": MASK,
            },
        }

    def swap(self, source_img, target_img, mask=None, **api):
        masks = mask_options({name: api.pop(name) for name in MASK_WIDGET_NAMES if name in api})
        params = FaceswapParams.from_mapping(api)
        sources = image_to_frames(source_img)
        if not sources:
            raise BadInput("source_img is an empty batch")
        targets = image_to_frames(target_img)
        models = SwapModels(store=comfy_env.model_store(), device=comfy_env.torch_device())
        result = run_faceswap(sources[0], targets, params, models, comfy_env.frame_progress(len(targets)),
                              masks=masks, mask=mask_to_array(mask))
        frames = [decode_image(encode_image(f, params.image_format, params.image_quality)) for f in result.frames]
        return (frames_to_image(frames), arrays_to_mask(result.masks))
