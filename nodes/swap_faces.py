"""SwapFaces: the chosen target faces (FACES) replaced with source identities (FACES or an IMAGE)."""

from __future__ import annotations

from ..pipeline.analysis.analyze import AnalysisRequest, FaceSet, analyze_batch
from ..pipeline.errors import BadInput
from ..pipeline.models.store import NeededModel
from ..pipeline.analysis.face_model import face_model_embeddings
from ..pipeline.job import source_embeddings, swap_frames
from ..pipeline.swap_models import DEFAULT_SWAPPER, SwapModels, mask_models
from ..pipeline.options import DEFAULTS
from ..pipeline.analysis.selection import parse_indexes
from ..pipeline.swap.frame_swap import SwapOptions
from ..pipeline.swap_plan import Progress, SwapPlan
from . import content_gate
from .comfy_env import device, folders
from .detect_faces import FACES
from .face_model_nodes import FACE_MODEL
from .missing_models import NodeInputs, reports_missing_models
from .prompt_links import output_unread
from .tensors import image_to_frames, mask_to_array
from .widgets import (CONTENT_CHECK, MASK, MASK_WIDGET_NAMES, MEASURE_SIMILARITY, PIXEL_BOOST, SWAP_OUTPUT_IS_LIST,
                      SWAP_RETURN_NAMES, SWAP_RETURN_TYPES, index_widget, mask_options, mask_widgets,
                      swap_model_widget, swap_output_tooltips)


class SwapFaces:
    CATEGORY = "Faceswap V3/swap"
    DESCRIPTION = ("Replace the faces DetectFaces picked in the target with the source faces: the k-th target "
                   "face gets the k-th source face, or the single source face for all.")
    RETURN_TYPES = SWAP_RETURN_TYPES
    RETURN_NAMES = SWAP_RETURN_NAMES
    OUTPUT_IS_LIST = SWAP_OUTPUT_IS_LIST
    OUTPUT_TOOLTIPS = swap_output_tooltips(
        "The target frames with the faces swapped; frames without the faces pass through.")
    FUNCTION = "swap"

    @classmethod
    def INPUT_TYPES(cls):
        store = folders.model_store()
        return {
            "required": {
                "target_image": ("IMAGE", {"tooltip": "The frames whose faces get replaced."}),
                "target_faces": (FACES, {"tooltip": "DetectFaces run on target_image: which faces to replace."}),
                "swap_model": swap_model_widget(store),
            },
            "optional": {
                "source_faces": (FACES, {"tooltip": "DetectFaces run on the source: the identities to use."}),
                "source_image": ("IMAGE", {"tooltip": "Instead of source_faces: a source image, analysed with "
                                                      "the target's detector and face order."}),
                "source_faces_index": index_widget("source (with source_image)"),
                "pixel_boost": PIXEL_BOOST,
                **mask_widgets(store),
                "source_face_model": (FACE_MODEL, {"tooltip": "Instead of source_faces/source_image: a face "
                                                              "model (Build or Load Face Model)."}),
                "mask": MASK,  # the sources first, as on the all-in-one node
                "measure_similarity": MEASURE_SIMILARITY,
                "content_check": CONTENT_CHECK,
            },
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},  # is the mask output read (prompt_links)
        }

    @classmethod
    def model_files(cls, inputs: NodeInputs) -> list[NeededModel]:
        """The model files a run loads: the swapper, the masks' models, the recognizer (for source faces, and
        to measure similarity), the content check's. A source_image without source_faces is analysed with the
        target's detector, which its Detect Faces node lists."""
        models = SwapModels(swapper_file=inputs.value("swap_model", DEFAULT_SWAPPER))
        masks = mask_options({name: inputs.option(name) for name in MASK_WIDGET_NAMES})
        files = [models.swapper_model(), *mask_models(masks).values()]
        if not inputs.connected("source_face_model") or inputs.option("measure_similarity"):
            files.append(models.recognizer_model())
        return files + content_gate.check_models(inputs.option("content_check"))

    @reports_missing_models
    def swap(self, target_image, target_faces: FaceSet, swap_model, source_faces: FaceSet | None = None,
             source_image=None, source_faces_index=DEFAULTS["source_faces_index"], source_face_model=None,
             pixel_boost=DEFAULTS["pixel_boost"], mask=None, measure_similarity=DEFAULTS["measure_similarity"],
             content_check=DEFAULTS["content_check"], prompt=None, unique_id=None, **mask_values):
        if source_faces is None and source_image is None and source_face_model is None:
            raise BadInput("SwapFaces needs source_faces or source_image (or source_face_model)")
        frames = image_to_frames(target_image)
        if len(target_faces.analyses) != len(frames):
            raise BadInput(f"target_faces has {len(target_faces.analyses)} frames but target_image has "
                           f"{len(frames)}; run DetectFaces on the same image")
        options = SwapOptions(pixel_boost, mask_options({k: mask_values[k] for k in MASK_WIDGET_NAMES
                                                          if k in mask_values}))
        store = folders.model_store()
        models = SwapModels(store=store, device=device.model_device(), swapper_file=swap_model)
        if source_face_model is not None:
            source_indexes = parse_indexes(source_faces_index, "source_faces_index")
            embeddings = face_model_embeddings(source_face_model, source_indexes)
        else:
            if source_faces is None:
                request = AnalysisRequest(target_faces.request.facedetection,
                                          target_faces.request.detection_face_order, "no", source_faces_index,
                                          "source_faces_index")
                source_faces = analyze_batch(image_to_frames(source_image[:1]), request, store, models.device)
            embeddings = source_embeddings(source_faces, models)
            source_indexes = list(source_faces.analyses[0].selection.labels)
        # the target's selection labels in first-seen order: its indexes, or its reference labels
        target_indexes = list(dict.fromkeys(target_faces.analyses[0].selection.labels))
        # the identity's pixels (none from a face model): the source image, or the one source_faces came from
        source = source_faces.first_frame if source_face_model is None else None
        paste_masks = not output_unread(prompt, unique_id, "mask")

        def swap(picked, kept, frame_mask, after_frame, on_step):
            plan = SwapPlan(models, embeddings, source_indexes, target_indexes, options, mask=frame_mask,
                            measure_similarity=measure_similarity, index_name=target_faces.request.index_name,
                            progress=Progress(after_frame, on_step), paste_masks=paste_masks)
            return swap_frames(picked, [target_faces.analyses[i] for i in kept], plan)

        return content_gate.checked_swap(content_check, source, frames, target_image, mask_to_array(mask), swap,
                                         paste_masks)
