"""RestoreFace: GFPGAN / CodeFormer on each face of an IMAGE (all faces found, or the FACES given)."""

from __future__ import annotations

import itertools

from ..pipeline.analysis.analyze import AnalysisRequest, FaceSet, analysis_models, analyze_image
from ..pipeline.errors import BadInput
from ..pipeline.models.store import NeededModel
from ..pipeline.swap_models import SwapModels, restorer_model
from ..pipeline.geometry.paste import frame_masks
from ..pipeline.restore.restorer import restore_call, restore_frames, restores
from .comfy_env import device, folders, progress
from .detect_faces import FACES
from .missing_models import NodeInputs, reports_missing_models
from .tensors import frames_to_image, image_to_frames, mask_to_array
from .widgets import MASK, FIDELITY, FRAMES, INTERPOLATION, RESTORE_WEIGHT, face_restore_widget, facedetection_widget


class RestoreFace:
    CATEGORY = "Faceswap V3/restore"
    DESCRIPTION = "Restore faces with GFPGAN or CodeFormer, aligned to 512 px and blended back by weight."
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The frames with their faces restored.",)
    FUNCTION = "restore"

    @classmethod
    def INPUT_TYPES(cls):
        store = folders.model_store()
        return {
            "required": {
                "image": FRAMES,
                "face_restore": face_restore_widget(store),
                "face_restore_weight": RESTORE_WEIGHT,
                "codeformer_fidelity": FIDELITY,
                "interpolation": INTERPOLATION,
                "facedetection": facedetection_widget(store),
            },
            "optional": {
                "faces": (FACES, {"tooltip": "Restore only these faces (from DetectFaces on the same frames) "
                                             "instead of every face the detector finds."}),
                "mask": MASK,
            },
            "hidden": {"prompt": "PROMPT"},  # the workflow, for the missing-models report
        }

    @classmethod
    def model_files(cls, inputs: NodeInputs) -> list[NeededModel]:
        """The model files a run loads: none at weight 0; else the restorer, and the detector unless faces are
        given."""
        if not restores(inputs.option("face_restore_weight")):
            return []
        files = [restorer_model(inputs.option("face_restore"))]
        return files if inputs.connected("faces") else files + analysis_models(inputs.option("facedetection"))

    @reports_missing_models
    def restore(self, image, face_restore, face_restore_weight, codeformer_fidelity, interpolation, facedetection,
                faces: FaceSet | None = None, mask=None):
        frames = image_to_frames(image)
        if not frames:
            raise BadInput("the image batch is empty: no frame to restore")
        if not restores(face_restore_weight):
            return (image,)
        keeps = frame_masks(mask_to_array(mask), len(frames), frames[0].shape) if mask is not None else None
        if faces is not None and len(faces.analyses) != len(frames):
            raise BadInput(f"faces has {len(faces.analyses)} frames but image has {len(frames)}")
        store = folders.model_store()
        models = SwapModels(store=store, device=device.model_device())
        restorer = models.restorer(face_restore)
        restore_crops, paste_on = restore_call(restorer, codeformer_fidelity, interpolation)
        after_frame, on_step = progress.step_progress(len(frames))
        request = AnalysisRequest(facedetection=facedetection)
        out = []
        for i, rgb in enumerate(frames):
            if faces is not None:
                chosen = [f for f in faces.analyses[i].selection.picked if f is not None]
            else:
                chosen = list(analyze_image(rgb, request, store, models.device).selection.candidates)
            if on_step:
                on_step(i, 0, len(chosen))
            done = itertools.count(1)  # faces restored in this frame, for the progress bar
            out += restore_frames([rgb], [chosen], restore_crops, face_restore_weight, interpolation,
                                  restorer.batch_size, masks=[(keeps[i] if keeps else None, None)],
                                  on_face=(lambda _: on_step(i, next(done), len(chosen))) if on_step else None,
                                  paste_on=paste_on)
            if after_frame:
                after_frame(i)
        return (frames_to_image(out),)
