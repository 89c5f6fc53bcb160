"""Face models: one identity built from one or more faces, saved in ReActor's safetensors layout.

A file carries the nine tensors ReActor's save_face_model writes (ReActor rebuilds an insightface Face
from them), so files move both ways between the two packs. Our own extras ride along without disturbing
ReActor: every face's normed embedding under `fsv3_embeddings`, and the compute method and the faces it
came from in the safetensors metadata. Never pickle: safetensors holds arrays only.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .analyze import AnalysisRequest, analyze_image
from ..errors import BadInput
from ..face import Face
from ..options import COMPUTE_METHODS, DEFAULTS, check_choice
from .similarity import normed

if TYPE_CHECKING:  # the models facade is above the stages: annotations only
    from ..swap_models import SwapModels

FACE_MODELS_FOLDER = "reactor/faces"  # ReActor's folder, so both packs list the same files
EMBEDDINGS_KEY = "fsv3_embeddings"
FORMAT = "faceswap_v3 face model 1"

# ReActor's keys, with the shape and dtype an insightface buffalo_l Face gives them.
REACTOR_LAYOUT: dict[str, tuple[tuple[int, ...], str]] = {
    "bbox": ((4,), "float32"),
    "kps": ((5, 2), "float32"),
    "det_score": ((), "float32"),
    "landmark_3d_68": ((68, 3), "float32"),
    "pose": ((3,), "float32"),
    "landmark_2d_106": ((106, 2), "float32"),
    "embedding": ((512,), "float32"),
    "gender": ((), "int64"),
    "age": ((), "int64"),
}
_GENDER_CODES = {"F": 0, "M": 1}  # insightface: argmax of [female, male]
MAX_FILE_BYTES = 64 << 20  # a face model is a few kB per face; anything near this is not one
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}")  # used with fullmatch: "$" would let "name\n" through


@dataclass(frozen=True)
class FaceModel:
    """embedding: the identity, normed float32 [512]. embeddings: the normed [N, 512] it was computed from.
    sources: one line per face ('images[0] face 0'). reactor_fields: the nine arrays of ReActor's layout
    (landmarks, box, gender, age of the first face; what we cannot estimate is zeros)."""

    embedding: np.ndarray
    embeddings: np.ndarray
    compute_method: str
    sources: tuple[str, ...]
    reactor_fields: dict[str, np.ndarray] = field(repr=False)

    def describe(self) -> str:
        faces = f"{len(self.sources)} face{'s' if len(self.sources) != 1 else ''}"
        return f"face model: {self.compute_method} of {faces} ({'; '.join(self.sources[:8])}" \
               f"{' ...' if len(self.sources) > 8 else ''})"


def combine_embeddings(embeddings: np.ndarray, method: str) -> np.ndarray:
    """The normed mean or element-wise median of normed embeddings [N, 512]."""
    check_choice("compute_method", method, COMPUTE_METHODS)
    stacked = np.asarray(embeddings, dtype=np.float32).reshape(-1, 512)
    if len(stacked) == 0:
        raise BadInput("no face to build a face model from: give at least one photo with a visible face")
    combined = stacked.mean(axis=0) if method == "mean" else np.median(stacked, axis=0)
    return normed(combined, f"the {method} of these embeddings")


def reactor_fields_for(face: Face | None, embedding: np.ndarray) -> dict[str, np.ndarray]:
    """ReActor's nine arrays for a face we detected (our detectors give box, 5 landmarks and score;
    gender/age come from the genderage model; 68/106-point landmarks and pose stay zeros)."""
    fields = {key: np.zeros(shape, dtype) for key, (shape, dtype) in REACTOR_LAYOUT.items()}
    if face is not None:
        fields["bbox"] = np.asarray(face.box, np.float32)
        fields["kps"] = np.asarray(face.landmarks, np.float32).reshape(5, 2)
        fields["det_score"] = np.asarray(face.score, np.float32)
        fields["gender"] = np.asarray(_GENDER_CODES.get(face.gender or "", 0), np.int64)
        fields["age"] = np.asarray(face.age or 0, np.int64)
    fields["embedding"] = np.asarray(embedding, np.float32)
    return fields


def build_face_model(faces: list[tuple[str, np.ndarray, Face | None]], method: str = DEFAULTS["compute_method"],
                     models: tuple[FaceModel, ...] | list[FaceModel] = ()) -> FaceModel:
    """One identity from (source description, normed embedding, face) triples and earlier face models,
    pooling every face's embedding. The first face (or model) supplies ReActor's non-embedding fields."""
    sources = [s for m in models for s in m.sources] + [name for name, _, _ in faces]
    parts = [m.embeddings for m in models] + [np.asarray(e, np.float32).reshape(1, 512) for _, e, _ in faces]
    if not parts:
        raise BadInput("Build Face Model got no faces: connect at least one image with a face, or a face model")
    embeddings = np.concatenate(parts).astype(np.float32)
    identity = combine_embeddings(embeddings, method)
    base = models[0].reactor_fields if models else reactor_fields_for(faces[0][2], identity)
    return FaceModel(embedding=identity, embeddings=embeddings, compute_method=method, sources=tuple(sources),
                     reactor_fields={**base, "embedding": identity})


def face_model_embeddings(model: FaceModel, source_indexes: list[int]) -> dict[int, np.ndarray]:
    """A face model as the source: one identity, index 0, for every target face."""
    if list(source_indexes) != [0]:
        raise BadInput(f"a face model holds one identity; source_faces_index asks for "
                       f"{', '.join(map(str, source_indexes))}: set it to 0")
    return {0: model.embedding}


def face_model_path(folder: Path, name: str) -> Path:
    """folder/name.safetensors for a plain file name; anything that could leave the folder is refused."""
    stem = name[:-len(".safetensors")] if name.lower().endswith(".safetensors") else name
    if not _NAME.fullmatch(stem) or stem in (".", "..") or ".." in stem:
        raise BadInput(f"face model name {name!r} is not a plain file name; use letters, digits, spaces, "
                       "'_', '-' or '.', starting with a letter or digit (at most 100 characters)")
    return Path(folder) / f"{stem}.safetensors"


def save_face_model(model: FaceModel, path: Path, overwrite: bool = False) -> Path:
    """Write model to path in ReActor's layout plus our extras; the file appears only once complete."""
    from safetensors.numpy import save_file

    path = Path(path)
    if path.exists() and not overwrite:
        raise BadInput(f"{path} already exists; choose another face_model_name or turn on overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    # .copy(order="C"), not ascontiguousarray: that turns ReActor's 0-d det_score/gender/age into shape [1]
    tensors = {key: np.asarray(model.reactor_fields[key]).astype(dtype).reshape(shape).copy(order="C")
               for key, (shape, dtype) in REACTOR_LAYOUT.items()}
    tensors["embedding"] = np.ascontiguousarray(model.embedding.astype(np.float32))
    tensors[EMBEDDINGS_KEY] = np.ascontiguousarray(model.embeddings.astype(np.float32))
    metadata = {"format": FORMAT, "compute_method": model.compute_method, "sources": json.dumps(list(model.sources))}
    fd, part = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, part, metadata=metadata)
        os.replace(part, path)
    finally:
        Path(part).unlink(missing_ok=True)
    return path


def load_face_model(path: Path) -> FaceModel:
    """Read a face model written by this pack or by ReActor; a missing or wrongly shaped key is refused
    naming the key."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
        raise BadInput(f"{path.name} is {path.stat().st_size} bytes: too large for a face model "
                       f"(at most {MAX_FILE_BYTES} bytes)")
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except FileNotFoundError:
        raise BadInput(f"face model file {path} not found") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure means the file is not a safetensors face model
        raise BadInput(f"{path.name} is not a readable safetensors face model ({type(exc).__name__}: {exc})") from None
    fields = {}
    for key, (shape, dtype) in REACTOR_LAYOUT.items():
        if key not in tensors:
            raise BadInput(f"{path.name} is not a face model: key {key!r} is missing (a ReActor face model has "
                           f"{', '.join(REACTOR_LAYOUT)})")
        value = tensors[key]
        if tuple(value.shape) != shape and not (shape == () and tuple(value.shape) == (1,)):
            raise BadInput(f"{path.name}: key {key!r} has shape {list(value.shape)}, expected {list(shape)}")
        if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
            raise BadInput(f"{path.name}: key {key!r} must hold finite numbers, got {value.dtype}")
        fields[key] = value.reshape(shape).astype(dtype)
    try:
        identity = normed(fields["embedding"], f"{path.name}: key 'embedding'")
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    embeddings = identity.reshape(1, 512)
    if EMBEDDINGS_KEY in tensors:
        extra = tensors[EMBEDDINGS_KEY]
        if extra.ndim != 2 or extra.shape[1] != 512 or not np.all(np.isfinite(extra)) or len(extra) == 0:
            raise BadInput(f"{path.name}: key {EMBEDDINGS_KEY!r} has shape {list(extra.shape)}, expected [N, 512]")
        embeddings = np.stack([normed(e, f"{path.name}: a row of {EMBEDDINGS_KEY!r}") for e in extra])
    method = metadata.get("compute_method", "single face (ReActor)")
    try:
        sources = tuple(json.loads(metadata["sources"])) if "sources" in metadata else (path.name,)
    except (ValueError, TypeError):
        sources = (path.name,)
    return FaceModel(embedding=identity, embeddings=embeddings.astype(np.float32), compute_method=method,
                     sources=tuple(str(s) for s in sources), reactor_fields={**fields, "embedding": identity})


def collect_faces(photos: list[tuple[str, list[np.ndarray]]], request: AnalysisRequest, models: SwapModels,
                  after_photo: Callable[[int], None] | None = None) -> tuple[list[tuple[str, np.ndarray, Face]],
                                                                              list[str]]:
    """The picked faces of every frame of every named photo input, with their normed embeddings, and a
    warning for each frame that lacks a picked face (skipped, so one bad photo does not sink the rest).
    after_photo(k) is called once the k-th frame (counted over all inputs, from 0) is done."""
    recognizer = models.recognizer()
    faces, warnings = [], []
    done = 0
    for name, frames in photos:
        for i, rgb in enumerate(frames):
            analysis = analyze_image(rgb, request, models.store, models.device, with_gender=True)
            for index, face in zip(analysis.selection.labels, analysis.selection.picked):
                if face is None:
                    warnings.append(f"{name}[{i}]: no face {index} (found {analysis.selection.available}), skipped")
                else:
                    faces.append((f"{name}[{i}] face {index}", recognizer.embed(rgb, face), face))
            if after_photo is not None:
                after_photo(done)
            done += 1
    return faces, warnings
