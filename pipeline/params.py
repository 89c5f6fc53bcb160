"""The Faceswap V3 API's parameters as one validated record (nodes, CLI and server share it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .analysis import AnalysisRequest
from .errors import BadInput
from .pixel_boost import parse_pixel_boost
from .options import (API_DETECTORS, API_PARAMETERS, DEFAULTS, DETECTOR_FILE_SUFFIXES, EXTRA_DETECTORS, FACE_ORDERS,
                      GENDER_FILTERS, IMAGE_FORMATS, RESTORER_SUFFIXES, RESTORERS, check_choice, check_restore_weight,
                      interpolation_flag)
from .selection import parse_indexes


@dataclass(frozen=True)
class FaceswapParams:
    input_faces_index: str = DEFAULTS["input_faces_index"]
    source_faces_index: str = DEFAULTS["source_faces_index"]
    face_restore: str = DEFAULTS["face_restore"]
    interpolation: str = DEFAULTS["interpolation"]
    detection_face_order: str = DEFAULTS["detection_face_order"]
    facedetection: str = DEFAULTS["facedetection"]
    detect_gender_input: str = DEFAULTS["detect_gender_input"]
    detect_gender_source: str = DEFAULTS["detect_gender_source"]
    face_restore_weight: float = DEFAULTS["face_restore_weight"]
    image_format: str = DEFAULTS["image_format"]
    image_quality: int = DEFAULTS["image_quality"]
    base64: bool = DEFAULTS["base64"]
    pixel_boost: str = DEFAULTS["pixel_boost"]  # an extension (issue 10): left out of to_mapping at its default
    # an extension (issue 17): embed each swapped face to score it against the source; off, no model call for it
    measure_similarity: bool = DEFAULTS["measure_similarity"]

    def __post_init__(self) -> None:
        """Check every parameter, once; what later steps need converted is kept converted: target_indexes,
        source_indexes, interpolation_flag, target_request, source_request."""
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise BadInput(f"{name} must be a string, got {'null' if value is None else type(value).__name__}")
        self._keep("target_indexes", tuple(parse_indexes(self.input_faces_index, "input_faces_index")))
        self._keep("source_indexes", tuple(parse_indexes(self.source_faces_index, "source_faces_index")))
        check_choice("detection_face_order", self.detection_face_order, FACE_ORDERS)
        check_choice("detect_gender_input", self.detect_gender_input, GENDER_FILTERS)
        check_choice("detect_gender_source", self.detect_gender_source, GENDER_FILTERS)
        self._keep("interpolation_flag", interpolation_flag(self.interpolation))
        check_choice("image_format", self.image_format, IMAGE_FORMATS)
        if self.facedetection not in API_DETECTORS and not self._is_extra_detector(self.facedetection):
            check_choice("facedetection", self.facedetection, API_DETECTORS)
        if not self.face_restore.lower().endswith(RESTORER_SUFFIXES):
            check_choice("face_restore", self.face_restore, RESTORERS)
        check_restore_weight(self.face_restore_weight)
        quality = self.image_quality
        if isinstance(quality, bool) or not isinstance(quality, int) or not 10 <= quality <= 100:
            raise BadInput(f"image_quality must be a whole number from 10 to 100, got {quality!r}")
        if not isinstance(self.base64, bool):
            raise BadInput(f"base64 must be true or false, got {self.base64!r}")
        parse_pixel_boost(self.pixel_boost)
        if not isinstance(self.measure_similarity, bool):
            raise BadInput(f"measure_similarity must be true or false, got {self.measure_similarity!r}")
        self._keep("target_request", AnalysisRequest(self.facedetection, self.detection_face_order,
                                                     self.detect_gender_input, self.input_faces_index,
                                                     "input_faces_index", self.target_indexes))
        self._keep("source_request", AnalysisRequest(self.facedetection, self.detection_face_order,
                                                     self.detect_gender_source, self.source_faces_index,
                                                     "source_faces_index", self.source_indexes))

    def _keep(self, name: str, value) -> None:
        object.__setattr__(self, name, value)  # a derived value, not a field: frozen, left out of to_mapping

    @staticmethod
    def _is_extra_detector(name: str) -> bool:
        return name in EXTRA_DETECTORS or name.lower().endswith(DETECTOR_FILE_SUFFIXES)

    @classmethod
    def from_mapping(cls, values: dict) -> "FaceswapParams":
        """Build from API-style keys; unknown keys are an error naming them."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise BadInput(f"unknown parameter(s): {', '.join(unknown)}")
        return cls(**values)

    def to_mapping(self) -> dict:
        """The API's parameters; extensions only when they differ from the hosted API's behaviour."""
        values = asdict(self)
        if values["pixel_boost"] == DEFAULTS["pixel_boost"]:
            del values["pixel_boost"]
        if values["measure_similarity"] == DEFAULTS["measure_similarity"]:
            del values["measure_similarity"]
        return values


_TEXT_FIELDS = tuple(name for name in (*API_PARAMETERS, "pixel_boost") if isinstance(DEFAULTS[name], str))
