"""DetectFaces: IMAGE -> the chosen faces (FACES) and a preview with numbered boxes."""

from __future__ import annotations

from ..pipeline.analysis import AnalysisRequest, analyze_batch
from ..pipeline.preview import draw_faces
from . import comfy_env
from .tensors import frames_to_image, image_to_frames
from .widgets import FRAMES, ORDER, facedetection_widget, gender_widget, index_widget

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
        store = comfy_env.model_store()
        return {
            "required": {
                "image": FRAMES,
                "facedetection": facedetection_widget(store),
                "detection_face_order": ORDER,
                "detect_gender": gender_widget(),
                "faces_index": index_widget(),
            },
        }

    def detect(self, image, facedetection, detection_face_order, detect_gender, faces_index):
        frames = image_to_frames(image)
        request = AnalysisRequest(facedetection=facedetection, detection_face_order=detection_face_order,
                                  detect_gender=detect_gender, faces_index=faces_index)
        face_set = analyze_batch(frames, request, comfy_env.model_store(), comfy_env.torch_device(),
                                 after_frame=comfy_env.frame_progress(len(frames)))
        previews, warnings = [], []
        for i, (rgb, analysis) in enumerate(zip(frames, face_set.analyses)):
            picked = {n for n, f in zip(analysis.selection.requested, analysis.selection.picked) if f is not None}
            previews.append(draw_faces(rgb, list(analysis.selection.candidates), picked))
            if analysis.selection.missing:
                warnings.append(f"{f'frame {i}: ' if len(frames) > 1 else ''}faces_index asks for "
                                f"{', '.join(map(str, analysis.selection.missing))} but only "
                                f"{analysis.selection.available} face(s) found")
        for message in warnings:
            comfy_env.log.warning("Faceswap V3: %s", message)
        comfy_env.show_warnings(warnings)
        info = face_set.summary()
        comfy_env.log.info("DetectFaces: %s", info)
        return (face_set, frames_to_image(previews), info)
