"""Model choices as the server takes them over HTTP: the API's values, or the bare name of a file in
the server's models folders. Never a path: a stranger must not load any file on the server's disk,
learn its paths, or load the same file again under another spelling."""

from __future__ import annotations

import re

from ..pipeline.errors import BadInput
from ..pipeline.models.store import ModelStore
from ..pipeline.options import API_DETECTORS, DETECTOR_FILE_SUFFIXES, EXTRA_DETECTORS, RESTORER_SUFFIXES, RESTORERS

_BARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}\Z")
# parameter: (the API's values, the models sub-folder, the file suffixes a bare name may have)
_CHOICES = {
    "facedetection": ((*API_DETECTORS, *EXTRA_DETECTORS), "facedetection", DETECTOR_FILE_SUFFIXES),
    "face_restore": (RESTORERS, "facerestore_models", RESTORER_SUFFIXES),
}


def check_model_names(values: dict, store: ModelStore) -> None:
    """BadInput unless every model parameter present in values is an API value or a model file in its
    folder by bare name. The messages never repeat a path the caller sent, nor name server folders."""
    for name, (api_values, folder, suffixes) in _CHOICES.items():
        if name not in values:
            continue
        value = values[name]
        if not isinstance(value, str):
            raise BadInput(f"{name} must be a string, got {'null' if value is None else type(value).__name__}")
        if value in api_values:
            continue
        listed = ", ".join(api_values)
        if not _BARE_NAME.match(value) or ".." in value:
            raise BadInput(f"{name} must be one of {listed}, or the bare file name of a model in this server's "
                           f"{folder} folder; paths are not accepted")
        if not value.lower().endswith(suffixes) or value not in store.available(folder, suffixes):
            raise BadInput(f"{name}: {value!r} is not one of {listed}, nor a model file in this server's "
                           f"{folder} folder")
