"""Gender and age with insightface's genderage.onnx (buffalo_l), through insightface's own Attribute."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable
from ..face import Face
from ..runtime.onnx_session import insightface_model, runtime_name


class GenderAgeModel:
    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        what = "a gender/age model (expected genderage.onnx's interface: input [1,3,96,96], output [1,3])"
        model = insightface_model(path, "Attribute", what, providers, role="genderage")
        if model.taskname != "genderage":
            raise ModelUnavailable(f"{path} is not {what} (its task is {model.taskname})")
        model.prepare(ctx_id=0)
        self.model = model
        self.runs_on = runtime_name(model.session)

    def annotate(self, rgb: np.ndarray, faces: list[Face]) -> list[Face]:
        """Return the faces with gender ("F"/"M") and age (years) filled in."""
        from insightface.app.common import Face as InsightFace

        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        out = []
        for face in faces:
            record = InsightFace(bbox=np.asarray(face.box, dtype=np.float32), kps=face.landmarks)
            gender, age = self.model.get(bgr, record)
            out.append(face.with_gender_age("M" if int(gender) == 1 else "F", int(age)))
        return out
