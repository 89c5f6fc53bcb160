"""DetectFaces: IMAGE -> the chosen faces (FACES) and a preview with numbered boxes."""

from __future__ import annotations

import logging

from ..pipeline.analysis.analyze import (AnalysisRequest, FaceSet, analysis_models, analyze_batch,
                                        track_analyses)
from ..pipeline.errors import BadInput
from ..pipeline.models.store import NeededModel
from ..pipeline.swap_models import SwapModels
from ..pipeline.analysis.preview import draw_faces
from ..pipeline.options import DEFAULTS
from ..pipeline.analysis.reference import reference_selector
from ..pipeline.analysis.selection import Selection, missing_faces_reason
from ..pipeline.analysis.tracking import describe_tracks
from .comfy_env import device, folders, progress, toasts
from .comfy_env.memory import held_models
from .face_model_nodes import FACE_MODEL
from .missing_models import NodeInputs, reports_missing_models
from .prompt_links import SWAP_FACES, consumers
from .tensors import frames_to_image, image_to_frames
from .widgets import (FACE_SELECTOR, FRAMES, ORDER, REFERENCE_DISTANCE, TRACK_FACES, facedetection_widget, gender_widget,
                      index_widget)

log = logging.getLogger("faceswap_v3")

FACES = "FSV3_FACES"


class DetectFaces:
    CATEGORY = "Faceswap V3/analysis"
    DESCRIPTION = ("Find faces, number them in the chosen order, keep one gender if asked, "
                   "and pick faces by index - exactly as the Faceswap V3 API does.")
    RETURN_TYPES = (FACES, "IMAGE", "STRING")
    RETURN_NAMES = ("faces", "preview", "info")
    OUTPUT_TOOLTIPS = (
        "The picked faces of every frame, for SwapFaces.",
        "Each frame with numbered boxes: picked faces green, the others amber.",
        "Faces found per frame and where each model ran (CUDA or CPU).",
    )
    FUNCTION = "detect"

    @classmethod
    def INPUT_TYPES(cls):
        store = folders.model_store()
        return {
            "required": {
                "image": FRAMES,
                "facedetection": facedetection_widget(store),
                "detection_face_order": ORDER,
                "detect_gender": gender_widget(),
                "faces_index": index_widget(),
            },
            "optional": {
                "face_selector": FACE_SELECTOR,
                "reference_distance": REFERENCE_DISTANCE,
                "reference_image": ("IMAGE", {"tooltip": "face_selector reference: the person to pick, its face "
                                                         "chosen by faces_index (first frame)."}),
                "reference_face_model": (FACE_MODEL, {"tooltip": "face_selector reference: instead of "
                                                                 "reference_image, a face model."}),
                "track_faces": TRACK_FACES,
            },
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def model_files(cls, inputs: NodeInputs) -> list[NeededModel]:
        """The model files a run loads: the detector (and gender model), the recognizer in reference mode."""
        files = analysis_models(inputs.option("facedetection"), inputs.value("detect_gender", "no"))
        if inputs.option("face_selector") == "reference":
            files.append(SwapModels().recognizer_model())
        return files

    @reports_missing_models
    def detect(self, image, facedetection, detection_face_order, detect_gender, faces_index,
               face_selector=DEFAULTS["face_selector"], reference_distance=DEFAULTS["reference_distance"],
               reference_image=None, reference_face_model=None, track_faces=DEFAULTS["track_faces"], prompt=None,
               unique_id=None):
        frames = image_to_frames(image)
        request = AnalysisRequest(facedetection=facedetection, detection_face_order=detection_face_order,
                                  detect_gender=detect_gender, faces_index=faces_index)
        models = SwapModels(store=folders.model_store(), device=device.model_device())
        reference = reference_selector(face_selector, reference_distance,
                                       image_to_frames(reference_image)[0] if reference_image is not None else None,
                                       reference_face_model, request, models)
        face_set = analyze_batch(frames, request, models.store, models.device,
                                 after_frame=progress.frame_progress(len(frames)))
        if reference is not None:
            face_set = FaceSet(request, face_set.first_frame,
                               [reference.apply(rgb, a, models) for rgb, a in zip(frames, face_set.analyses)])
        if track_faces:
            face_set.analyses = list(track_analyses(face_set.analyses))
        feeds = consumers(prompt, unique_id, 0)
        if (SWAP_FACES, "source_faces") in feeds:
            require_source_faces(face_set.analyses[0].selection)
        previews, warnings = [], []
        for i, (rgb, analysis) in enumerate(zip(frames, face_set.analyses)):
            selection = analysis.selection
            previews.append(draw_faces(rgb, list(selection.candidates), selection.picked_positions))
            if selection.missing:
                warnings.append(f"{f'frame {i}: ' if len(frames) > 1 else ''}"
                                + missing_faces_reason(selection, "faces_index", tracked=bool(analysis.tracks)))
        for message in warnings:
            log.warning("Faceswap V3: %s", message)
        if (SWAP_FACES, "target_faces") not in feeds:  # Swap Faces warns about the same frames itself
            toasts.show_warnings(warnings)
        info = face_set.summary()
        if reference is not None:
            matched = [sum(f is not None for f in a.selection.picked) for a in face_set.analyses]
            info += f"; reference mode: faces matched per frame: {', '.join(map(str, matched[:16]))}" \
                    f"{' ...' if len(matched) > 16 else ''}"
        if track_faces:
            info += "".join(f"\nframe {i}: {describe_tracks(a.tracks, a.selection.labels)}"
                            for i, a in enumerate(face_set.analyses))
        info += "".join(f"\n{line}" for line in [*warnings[:16], held_models()] if line)
        log.info("DetectFaces: %s", info)
        return (face_set, frames_to_image(previews), info)


def require_source_faces(selection: Selection) -> None:
    """Swap Faces needs every source face asked for: say so here, on the node whose faces_index must change."""
    if not selection.missing:
        return
    found = selection.available
    fix = ("use a photo where a face is clearly visible" if found == 0 else
           f"faces_index can be 0 to {found - 1}" if found > 1 else "faces_index can be 0")
    raise BadInput(f"{missing_faces_reason(selection, 'faces_index', role='source')}; these faces are Swap Faces' "
                   f"source_faces, where every face asked for must exist: {fix}")
