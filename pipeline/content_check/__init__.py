"""Content checks: a classifier judges each image of a job (target and source before the swap, the result
after it). Backends: FaceFusion's three content analysers voting 2 of 3 (facefusion_nsfw.py) and the
optional nudenet package (nudenet_detector.py); every threshold is in thresholds.py."""

from __future__ import annotations

import dataclasses

from ..errors import BadInput, ModelUnavailable
from ..models.locate import find_file
from ..models.registry import CONTENT_ANALYSER_FILES, model_file
from ..models.store import ModelStore, NeededModel
from .check import ContentCheck
from .verdict import CONTENT_BLOCKED, Classifier, ContentBlocked, Verdict

CLASSIFIERS = ("facefusion", "nudenet")
HOW_TO_GET_ONE = ("install nudenet (`pip install nudenet`: its weights are AGPL-3.0, so it is never installed "
                  "for you) or put FaceFusion's nsfw_1.onnx, nsfw_2.onnx and nsfw_3.onnx in "
                  "models/content_analyser/")

__all__ = ["CLASSIFIERS", "CONTENT_BLOCKED", "Classifier", "ContentBlocked", "ContentCheck", "Verdict",
           "HOW_TO_GET_ONE", "load_check", "installed_check", "installed_choice", "classifier_models",
           "count_facefusion_files"]


def count_facefusion_files(store: ModelStore) -> int:
    """How many of FaceFusion's three analyser files are on disk."""
    return sum(bool(find_file(name, store.dirs(model_file(name).folder))) for name in CONTENT_ANALYSER_FILES)


def load_check(name: str, store: ModelStore) -> ContentCheck:
    """The named classifier, loaded now (facefusion: its files downloaded on first use like every model;
    nudenet: the installed package). Raises ModelUnavailable naming what is missing or broken."""
    if name == "nudenet":
        from .nudenet_detector import NudenetDetector, nudenet_installed

        if not nudenet_installed():
            raise ModelUnavailable("the nudenet content classifier is not installed: `pip install nudenet` "
                                   "(AGPL-3.0 weights), or choose facefusion")
        return ContentCheck(NudenetDetector())
    if name == "facefusion":
        from .facefusion_nsfw import ANALYSERS, FacefusionNsfw

        return ContentCheck(FacefusionNsfw({key: store.path(spec.file) for key, spec in ANALYSERS.items()}))
    raise BadInput(f"unknown content classifier {name!r}: use {' or '.join(CLASSIFIERS)}")


def installed_choice(store: ModelStore, only: str | None = None) -> str | None:
    """The classifier installed_check loads: nudenet when the package is installed, else facefusion when any
    of its files is present; None if neither. only: consider just that one."""
    from .nudenet_detector import nudenet_installed

    if only not in (None, *CLASSIFIERS):
        raise BadInput(f"unknown content classifier {only!r}: use {' or '.join(CLASSIFIERS)}")
    if only in (None, "nudenet") and nudenet_installed():
        return "nudenet"
    if only in (None, "facefusion") and count_facefusion_files(store):
        return "facefusion"
    return None


def classifier_models(name: str | None) -> list[NeededModel]:
    """The model files the named classifier loads (nudenet's come with its package)."""
    if name != "facefusion":
        return []
    from .facefusion_nsfw import ANALYSERS

    return [NeededModel(spec.file) for spec in ANALYSERS.values()]


def installed_check(store: ModelStore, only: str | None = None) -> ContentCheck | None:
    """A classifier that is already on this machine, never downloading or installing one (installed_choice);
    None if there is none. One or two of FaceFusion's three files raise ModelMissing naming the missing one;
    a broken file raises ModelUnavailable."""
    choice = installed_choice(store, only)
    if choice is None:
        return None
    return load_check(choice, dataclasses.replace(store, allow_download=False))
