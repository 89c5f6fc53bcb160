"""SwapFaces: the chosen target faces (FACES) replaced with source identities (FACES or an IMAGE)."""

from __future__ import annotations

from ..pipeline.analysis import AnalysisRequest, FaceSet, analyze_batch
from ..pipeline.engine import SwapModels
from ..pipeline.errors import BadInput
from ..pipeline.faceswap import source_embeddings, swap_frames
from . import comfy_env
from .detect_faces import FACES
from .tensors import frames_to_image, image_to_frames
from .widgets import index_widget, swap_model_widget


class SwapFaces:
    CATEGORY = "Faceswap V3/swap"
    DESCRIPTION = ("Replace the faces DetectFaces picked in the target with the source faces: the k-th target "
                   "face gets the k-th source face, or the single source face for all.")
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "info")
    OUTPUT_TOOLTIPS = ("The target frames with the faces swapped; frames without the faces pass through.",
                       "Faces swapped per frame, where each model ran (e.g. onnxruntime:CUDAExecutionProvider, "
                       "torch:cuda:0) and the run's warnings.")
    FUNCTION = "swap"

    @classmethod
    def INPUT_TYPES(cls):
        store = comfy_env.model_store()
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
            },
        }

    def swap(self, target_image, target_faces: FaceSet, swap_model, source_faces: FaceSet | None = None,
             source_image=None, source_faces_index="0"):
        if source_faces is None and source_image is None:
            raise BadInput("SwapFaces needs source_faces or source_image")
        frames = image_to_frames(target_image)
        if len(target_faces.analyses) != len(frames):
            raise BadInput(f"target_faces has {len(target_faces.analyses)} frames but target_image has "
                           f"{len(frames)}; run DetectFaces on the same image")
        store = comfy_env.model_store()
        models = SwapModels(store=store, device=comfy_env.torch_device(), swapper_file=swap_model)
        if source_faces is None:
            request = AnalysisRequest(target_faces.request.facedetection, target_faces.request.detection_face_order,
                                      "no", source_faces_index, "source_faces_index")
            source_faces = analyze_batch(image_to_frames(source_image[:1]), request, store, models.device)
        embeddings = source_embeddings(source_faces, models)
        after_frame, on_step = comfy_env.step_progress(len(frames))
        result = swap_frames(frames, target_faces.analyses, list(target_faces.analyses[0].selection.requested),
                             embeddings, list(source_faces.analyses[0].selection.requested), models,
                             after_frame=after_frame, on_step=on_step)
        return (frames_to_image(result.frames), comfy_env.report_run(result))
