"""DetectFaces: IMAGE -> the chosen faces (FACES) and a preview with numbered boxes."""

from __future__ import annotations

from ..pipeline.analysis import AnalysisRequest, analyze_batch, track_analyses
from ..pipeline.preview import draw_faces
from ..pipeline.tracking import describe_tracks
from . import comfy_env
from .tensors import frames_to_image, image_to_frames
from .widgets import FRAMES, ORDER, TRACK_FACES, facedetection_widget, gender_widget, index_widget

FACES = "FSV3_FACES"


class DetectFaces:
    CATEGORY = "Faceswap V3"
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
                "track_faces": TRACK_FACES,
            },
        }

    def detect(self, image, facedetection, detection_face_order, detect_gender, faces_index, track_faces=False):
        frames = image_to_frames(image)
        request = AnalysisRequest(facedetection=facedetection, detection_face_order=detection_face_order,
                                  detect_gender=detect_gender, faces_index=faces_index)
        face_set = analyze_batch(frames, request, comfy_env.model_store(), comfy_env.torch_device(),
                                 after_frame=comfy_env.frame_progress(len(frames)))
        if track_faces:
            face_set.analyses = list(track_analyses(face_set.analyses))
        previews = []
        for rgb, analysis in zip(frames, face_set.analyses):
            picked = {i for i, f in enumerate(analysis.selection.candidates)
                      if any(f is p for p in analysis.selection.picked)}
            previews.append(draw_faces(rgb, list(analysis.selection.candidates), picked))
            if analysis.selection.missing:
                comfy_env.log.warning("faces_index asks for %s but only %d face(s) found",
                                      list(analysis.selection.missing), analysis.selection.available)
        info = face_set.summary()
        if track_faces:
            info += "".join(f"\nframe {i}: {describe_tracks(a.tracks, a.selection.requested)}"
                            for i, a in enumerate(face_set.analyses))
        comfy_env.log.info("DetectFaces: %s", info)
        return (face_set, frames_to_image(previews), info)
