"""Faceswap V3 (all-in-one): the hosted API's parameters, exactly, run locally."""

from __future__ import annotations

from ..pipeline.analysis.analyze import analysis_models
from ..pipeline.errors import BadInput
from ..pipeline.job import run_faceswap, target_request
from ..pipeline.models.store import NeededModel
from ..pipeline.restore.restorer import restores
from ..pipeline.swap_models import SwapModels, mask_models, restorer_model
from ..pipeline.params import FaceswapParams
from ..pipeline.options import DEFAULTS
from ..pipeline.analysis.reference import reference_selector
from . import content_gate
from .comfy_env import device, folders
from .face_model_nodes import FACE_MODEL
from .missing_models import NodeInputs, reports_missing_models
from .prompt_links import output_unread
from .tensors import image_to_frames, image_to_lazy_frames, mask_to_array
from .widgets import (BASE64, FACE_SELECTOR, IMAGE_FORMAT, IMAGE_QUALITY, INTERPOLATION, LOCAL_IMAGE_FORMAT,
                      LOCAL_IMAGE_QUALITY, MASK, MASK_WIDGET_NAMES, MEASURE_SIMILARITY, ORDER, PIXEL_BOOST,
                      REFERENCE_DISTANCE, RESTORE_WEIGHT, CONTENT_CHECK, SWAP_OUTPUT_IS_LIST, SWAP_RETURN_NAMES,
                      SWAP_RETURN_TYPES, TRACK_FACES, added_option_widgets,
                      face_restore_widget, facedetection_widget, gender_widget, index_widget, mask_options,
                      mask_widgets, swap_output_tooltips)


def api_widgets(store) -> dict:
    """The API's parameters in the API's order, shared with the remote node. store None (the remote node):
    the API's own values only, its output encoding and its base64 transport switch. Locally nothing is
    encoded: image_format and image_quality are the node's last widgets (output_encoding_widgets) and
    base64 is absent."""
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
    }
    if remote:
        widgets.update(image_format=IMAGE_FORMAT, image_quality=IMAGE_QUALITY, base64=BASE64)
    return widgets


def output_encoding_widgets() -> dict:
    """The API's image_format and image_quality on the local node: every API parameter is a widget there too,
    but this node's IMAGE is never encoded, so they come last, after the widgets that change the swap
    (web/old_workflows.js moves the values of workflows saved with them among the API's widgets)."""
    return {"image_format": LOCAL_IMAGE_FORMAT, "image_quality": LOCAL_IMAGE_QUALITY}


class FaceswapV3:
    CATEGORY = "Faceswap V3/swap"
    DESCRIPTION = ("Segmind's Faceswap V3 in one node, run locally: the same parameters and defaults as the "
                   "hosted API. target_img may be a batch of video frames.")
    RETURN_TYPES = SWAP_RETURN_TYPES
    RETURN_NAMES = SWAP_RETURN_NAMES
    OUTPUT_IS_LIST = SWAP_OUTPUT_IS_LIST
    OUTPUT_TOOLTIPS = swap_output_tooltips(
        "The target with the chosen faces swapped and restored (never re-encoded: lossless).")
    FUNCTION = "swap"

    @classmethod
    def INPUT_TYPES(cls):
        store = folders.model_store()
        inputs = {
            "required": {
                "target_img": ("IMAGE", {"tooltip": "The image or frames whose faces get replaced."}),
                **api_widgets(store),
            },
            # optional, so API-format prompts saved before these existed still validate (defaults apply)
            "optional": {
                "pixel_boost": PIXEL_BOOST,
                **mask_widgets(store),
                # sockets read top to bottom as a user connects them: the face to use right under target_img
                "source_img": ("IMAGE", {"tooltip": "The face to use (its first frame)."}),
                "source_face_model": (FACE_MODEL, {"tooltip": "Instead of source_img: a face model (Build or "
                                                              "Load Face Model)."}),
                "reference_image": ("IMAGE", {"tooltip": "face_selector reference: the person to swap, its face "
                                                         "picked by input_faces_index (first frame)."}),
                "reference_face_model": (FACE_MODEL, {"tooltip": "face_selector reference: instead of "
                                                                 "reference_image, a face model."}),
                "mask": MASK,
                "face_selector": FACE_SELECTOR,
                "reference_distance": REFERENCE_DISTANCE,
                "track_faces": TRACK_FACES,
                "measure_similarity": MEASURE_SIMILARITY,  # goes to FaceswapParams with the API's widgets
                "content_check": CONTENT_CHECK,
                **output_encoding_widgets(),
            },
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},  # is the mask output read (prompt_links)
        }
        inputs["optional"].update(added_option_widgets({**inputs["required"], **inputs["optional"]},
                                                       left_out=("base64",)))  # nothing is encoded here
        return inputs

    @classmethod
    def model_files(cls, inputs: NodeInputs) -> list[NeededModel]:
        """The model files a run loads: the detector (and gender model) for the target and, without a face
        model, the source; the recognizer for the source, reference mode or similarity; the swapper, the masks'
        models, the restorer unless the weight is 0, the content check's."""
        models, detector = SwapModels(), inputs.option("facedetection")
        from_image = not inputs.connected("source_face_model")
        files = analysis_models(detector, inputs.option("detect_gender_input"))
        if from_image:
            files += analysis_models(detector, inputs.option("detect_gender_source"))
        if from_image or inputs.option("face_selector") == "reference" or inputs.option("measure_similarity"):
            files.append(models.recognizer_model())
        masks = mask_options({name: inputs.option(name) for name in MASK_WIDGET_NAMES})
        files += [models.swapper_model(), *mask_models(masks).values()]
        if restores(inputs.option("face_restore_weight")):
            files.append(restorer_model(inputs.option("face_restore")))
        return files + content_gate.check_models(inputs.option("content_check"))

    @reports_missing_models
    def swap(self, source_img=None, target_img=None, source_face_model=None, reference_image=None,
             reference_face_model=None, face_selector=DEFAULTS["face_selector"],
             reference_distance=DEFAULTS["reference_distance"],
             track_faces=DEFAULTS["track_faces"], mask=None, base64=None, content_check=DEFAULTS["content_check"],
             prompt=None, unique_id=None, **api):
        # base64 (a widget before this version) may still come from old API-format workflows: ignored,
        # since a local node produces no bytes to encode.
        masks = mask_options({name: api.pop(name) for name in MASK_WIDGET_NAMES if name in api})
        params = FaceswapParams.from_mapping(api)
        if target_img is None:
            raise BadInput("connect target_img: the image or frames whose faces get replaced")
        if (source_img is None) == (source_face_model is None):
            raise BadInput("connect source_img or source_face_model (one of them) as the face to use")
        sources = image_to_frames(source_img) if source_img is not None else [None]
        if not sources:
            raise BadInput("source_img is an empty batch")
        targets = image_to_lazy_frames(target_img)
        models = SwapModels(store=folders.model_store(), device=device.model_device())
        reference = reference_selector(face_selector, reference_distance,
                                       image_to_frames(reference_image)[0] if reference_image is not None else None,
                                       reference_face_model, target_request(params), models)

        paste_masks = not output_unread(prompt, unique_id, "mask")

        def swap(frames, kept, frame_mask, after_frame, on_step):
            return run_faceswap(sources[0], frames, params, models, after_frame, on_step,
                                source_model=source_face_model, reference=reference, masks=masks,
                                mask=frame_mask, track_faces=track_faces, paste_masks=paste_masks)

        return content_gate.checked_swap(content_check, sources[0], targets, target_img, mask_to_array(mask), swap,
                                         paste_masks)
