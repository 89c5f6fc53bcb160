"""FaceSimilarity: how alike the identities of a face in one image and a face in each frame of another are."""

from __future__ import annotations

import logging

from ..pipeline.analysis.analyze import AnalysisRequest, FaceSet, analysis_models, analyze_image
from ..pipeline.errors import BadInput
from ..pipeline.models.store import NeededModel
from ..pipeline.job import source_embeddings
from ..pipeline.swap_models import SwapModels
from ..pipeline.analysis.similarity import cosine_similarity
from .comfy_env import device, folders
from .face_model_nodes import FACE_MODEL
from .missing_models import NodeInputs, reports_missing_models
from .tensors import image_to_frames
from .widgets import ORDER, facedetection_widget

log = logging.getLogger("faceswap_v3")


class FaceSimilarity:
    CATEGORY = "Faceswap V3/analysis"
    DESCRIPTION = ("ArcFace cosine similarity between the picked face of image_a (or a face model) and the picked "
                   "face of each frame of image_b: 1 = same direction, around 0 = unrelated people.")
    RETURN_TYPES = ("FLOAT", "STRING")
    RETURN_NAMES = ("face_similarity", "info")
    OUTPUT_IS_LIST = (True, False)
    OUTPUT_TOOLTIPS = ("One value per frame of image_b (NaN where that frame has no such face).",
                       "The values as text.")
    FUNCTION = "compare"

    @classmethod
    def INPUT_TYPES(cls):
        store = folders.model_store()
        return {
            "required": {
                "facedetection": facedetection_widget(store),
                "detection_face_order": ORDER,
                "face_index_a": ("STRING", {"default": "0", "tooltip": "Which face of image_a (one index)."}),
                "face_index_b": ("STRING", {"default": "0", "tooltip": "Which face of image_b (one index)."}),
            },
            "optional": {
                "image_a": ("IMAGE", {"tooltip": "The reference face's image (its first frame)."}),
                "face_model_a": (FACE_MODEL, {"tooltip": "Instead of image_a: a face model."}),
                # optional only so that it is listed under image_a (required inputs come first); compare needs it
                "image_b": ("IMAGE", {"tooltip": "The image (or frames) to compare with the reference face."}),
            },
            "hidden": {"prompt": "PROMPT"},  # the workflow, for the missing-models report
        }

    @classmethod
    def model_files(cls, inputs: NodeInputs) -> list[NeededModel]:
        """The model files a run loads: the detector and the recognizer."""
        return [*analysis_models(inputs.option("facedetection")), SwapModels().recognizer_model()]

    @reports_missing_models
    def compare(self, facedetection, detection_face_order, face_index_a, face_index_b, image_a=None,
                face_model_a=None, image_b=None):
        if image_b is None:
            raise BadInput("Face Similarity needs image_b: connect the image (or frames) to compare")
        if (image_a is None) == (face_model_a is None):
            raise BadInput("Face Similarity needs image_a or face_model_a (one of them)")
        requests = []
        for name, text in (("face_index_a", face_index_a), ("face_index_b", face_index_b)):
            requests.append(AnalysisRequest(facedetection, detection_face_order, "no", text, name))
            if len(requests[-1].indexes) != 1:
                raise BadInput(f"{name} takes one face index, such as \"0\"; got {text!r}")
        request_a, request_b = requests
        models = SwapModels(store=folders.model_store(), device=device.model_device())
        if face_model_a is not None:
            reference = face_model_a.embedding
        else:
            rgb = image_to_frames(image_a)[0]
            face_set = FaceSet(request_a, rgb, [analyze_image(rgb, request_a, models.store, models.device)])
            reference = next(iter(source_embeddings(face_set, models, "image_a").values()))
        recognizer = models.recognizer()
        values = []
        for rgb in image_to_frames(image_b):
            face = analyze_image(rgb, request_b, models.store, models.device).selection.picked[0]
            values.append(float("nan") if face is None else cosine_similarity(recognizer.embed(rgb, face), reference))
        info = "face similarity: " + ", ".join("no face" if v != v else f"{v:.3f}" for v in values)
        log.info("Face Similarity: %s", info)
        return (values, info)
