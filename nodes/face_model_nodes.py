"""Build, save and load face models: one identity from several photos, in ReActor's file layout."""

from __future__ import annotations

import logging

from ..pipeline.analysis.analyze import AnalysisRequest, analysis_models
from ..pipeline.errors import BadInput
from ..pipeline.models.store import NeededModel
from ..pipeline.swap_models import SwapModels
from ..pipeline.analysis.face_model import (FACE_MODELS_FOLDER, FaceModel, build_face_model, collect_faces,
                                            face_model_path, load_face_model, save_face_model)
from ..pipeline.models.locate import find_file
from .comfy_env import device, folders, progress
from .missing_models import NodeInputs, reports_missing_models
from .tensors import image_to_frames
from .widgets import COMPUTE_METHOD, ORDER, facedetection_widget, gender_widget, index_widget

log = logging.getLogger("faceswap_v3")

FACE_MODEL = "FSV3_FACE_MODEL"
PHOTO_INPUTS = ("images", "images_2", "images_3")
MODEL_INPUTS = ("face_model", "face_model_2")


class BuildFaceModel:
    CATEGORY = "Faceswap V3/face models"
    DESCRIPTION = ("One identity from several photos: the faces picked in every photo (order, gender, index as "
                   "DetectFaces), their ArcFace embeddings combined by compute_method. Photos of different sizes "
                   "go into separate images inputs; earlier face models can be pooled in.")
    RETURN_TYPES = (FACE_MODEL, "STRING")
    RETURN_NAMES = ("face_model", "info")
    OUTPUT_TOOLTIPS = ("The identity, for Save Face Model, Swap Faces or the all-in-one node.",
                       "How many faces it came from, and which photos were skipped.")
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        store = folders.model_store()
        photo = ("IMAGE", {"tooltip": "Photos of the person (a batch: every frame is used)."})
        model = (FACE_MODEL, {"tooltip": "A face model to pool in (its faces count one by one)."})
        return {
            "required": {
                "facedetection": facedetection_widget(store),
                "detection_face_order": ORDER,
                "detect_gender": gender_widget(),
                "faces_index": index_widget("in each photo"),
                "compute_method": COMPUTE_METHOD,
            },
            "optional": {**{name: photo for name in PHOTO_INPUTS}, **{name: model for name in MODEL_INPUTS}},
            "hidden": {"prompt": "PROMPT"},  # the workflow, for the missing-models report
        }

    @classmethod
    def model_files(cls, inputs: NodeInputs) -> list[NeededModel]:
        """The model files a run loads: the recognizer, and for photos the detector and the gender model (a
        face model records gender and age)."""
        files = [SwapModels().recognizer_model()]
        if any(inputs.connected(name) for name in PHOTO_INPUTS):
            files += analysis_models(inputs.option("facedetection"), inputs.value("detect_gender", "no"),
                                     with_gender=True)
        return files

    @reports_missing_models
    def build(self, facedetection, detection_face_order, detect_gender, faces_index, compute_method, **inputs):
        photos = [(name, image_to_frames(inputs[name])) for name in PHOTO_INPUTS if inputs.get(name) is not None]
        models_in = [inputs[name] for name in MODEL_INPUTS if inputs.get(name) is not None]
        if not any(frames for _, frames in photos) and not models_in:
            raise BadInput("Build Face Model got no photos: connect at least one image (or a face model)")
        request = AnalysisRequest(facedetection, detection_face_order, detect_gender, faces_index)
        models = SwapModels(store=folders.model_store(), device=device.model_device())
        faces, warnings = collect_faces(photos, request, models,
                                        progress.frame_progress(sum(len(frames) for _, frames in photos)))
        if not faces and not models_in:
            raise BadInput("Build Face Model found no face to use: " + "; ".join(warnings[:8]))
        face_model = build_face_model(faces, compute_method, models_in)
        info = "; ".join([face_model.describe(), *warnings])
        for warning in warnings:
            log.warning("Build Face Model: %s", warning)
        return (face_model, info)


class SaveFaceModel:
    CATEGORY = "Faceswap V3/face models"
    DESCRIPTION = "Save a face model to models/reactor/faces/<name>.safetensors (ReActor's folder and layout)."
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Where the file was written.",)
    OUTPUT_NODE = True
    FUNCTION = "save"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "face_model": (FACE_MODEL, {"tooltip": "The face model to save."}),
                "face_model_name": ("STRING", {"default": "my_face", "tooltip": "File name, without folder; "
                                                                                ".safetensors is added."}),
                "overwrite": ("BOOLEAN", {"default": False, "tooltip": "Replace a file of the same name."}),
            },
        }

    def save(self, face_model: FaceModel, face_model_name: str, overwrite: bool):
        folder = folders.model_store().dirs(FACE_MODELS_FOLDER)[0]
        path = save_face_model(face_model, face_model_path(folder, face_model_name), overwrite)
        log.info("saved %s to %s", face_model.describe(), path)
        return {"ui": {"text": [str(path)]}, "result": (str(path),)}


def _face_model_file(name: str):
    if not name or name != name.replace("\\", "/").rsplit("/", 1)[-1]:
        raise BadInput(f"face model {name!r} is not a file name in models/{FACE_MODELS_FOLDER}")
    dirs = folders.model_store().dirs(FACE_MODELS_FOLDER)
    found = find_file(name, dirs)
    if found is None:
        raise BadInput(f"face model {name} not found (looked in: {', '.join(str(d) for d in dirs)})")
    return found


class LoadFaceModel:
    CATEGORY = "Faceswap V3/face models"
    DESCRIPTION = "Load a face model saved by this pack or by ReActor (models/reactor/faces/*.safetensors)."
    RETURN_TYPES = (FACE_MODEL, "STRING")
    RETURN_NAMES = ("face_model", "info")
    OUTPUT_TOOLTIPS = ("The identity, for Swap Faces, the all-in-one node or Build Face Model.",
                       "What the face model was built from.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        files = folders.model_store().available(FACE_MODELS_FOLDER, (".safetensors",))
        return {"required": {"face_model": (files, {"tooltip": "A .safetensors face model in models/reactor/faces."})}}

    @classmethod
    def IS_CHANGED(cls, face_model):
        try:
            stat = _face_model_file(face_model).stat()
        except BadInput:
            return float("nan")
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    def load(self, face_model: str):
        model = load_face_model(_face_model_file(face_model))
        return (model, model.describe())
