"""The API's face selection: ordering, gender filtering, index parsing and source/target pairing.

These functions are the API's semantics; nodes, CLI and server all call them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadInput
from ..face import Face
from ..options import FACE_ORDERS, GENDER_FILTERS, check_choice

_ORDER_KEYS = {
    "large-small": (lambda f: f.area, True),
    "small-large": (lambda f: f.area, False),
    "top-bottom": (lambda f: f.box[1], False),
    "bottom-top": (lambda f: f.box[1], True),
    "left-right": (lambda f: f.box[0], False),
    "right-left": (lambda f: f.box[0], True),
}
_GENDER_CODES = {"female": "F", "male": "M"}


def order_faces(faces: list[Face], order: str) -> list[Face]:
    """Number faces as the API does: by box area, box top edge or box left edge."""
    check_choice("detection_face_order", order, FACE_ORDERS)
    key, descending = _ORDER_KEYS[order]
    return sorted(faces, key=key, reverse=descending)


def filter_by_gender(faces: list[Face], gender: str) -> list[Face]:
    """Keep only faces of the given gender ("no" keeps all). Faces must carry a gender already."""
    check_choice("detect_gender", gender, GENDER_FILTERS)
    if gender == "no":
        return list(faces)
    unknown = [f for f in faces if f.gender is None]
    if unknown:
        raise BadInput("detect_gender: these faces carry no gender yet; run the gender/age model on them first "
                       "(detect them with a detect_gender other than no)")
    return [f for f in faces if f.gender == _GENDER_CODES[gender]]


MAX_INDEXES = 64
_MAX_INDEX_DIGITS = 4
# A target face is replaced once; a source face may serve several targets ("0,1,0" with "0,1,2").
_REPEATS_ALLOWED = ("source_faces_index",)


def parse_indexes(text: str, name: str = "faces_index") -> list[int]:
    """Parse "0", "0,2", " 1 , 0 " into [0], [0, 2], [1, 0]; reject anything else quoting the token,
    lists longer than MAX_INDEXES and (except for source_faces_index) an index given twice."""
    if not isinstance(text, str):
        raise BadInput(f"{name} must be a string such as \"0\" or \"0,2\", got {type(text).__name__}")
    tokens = text.split(",")
    if len(tokens) > MAX_INDEXES:
        raise BadInput(f"{name} lists {len(tokens)} indexes; at most {MAX_INDEXES} are allowed")
    indexes = []
    for raw in tokens:
        token = raw.strip()
        if not token.isdigit() or not token.isascii():
            raise BadInput(
                f"{name}: {_quoted(token)} is not a face index; use whole numbers >= 0 separated by commas, "
                f"such as \"0\" or \"0,2\""
            )
        if len(token.lstrip("0")) > _MAX_INDEX_DIGITS:
            raise BadInput(f"{name}: {_quoted(token)} is far past any face count; faces are numbered from 0")
        index = int(token)
        if index in indexes and name not in _REPEATS_ALLOWED:
            raise BadInput(f"{name}: index {index} is listed twice; list each face once")
        indexes.append(index)
    return indexes


def _quoted(token: str) -> str:
    return repr(token) if len(token) <= 20 else repr(token[:20]) + f"... ({len(token)} characters)"


@dataclass(frozen=True)
class Selection:
    """candidates: every face after ordering and the gender filter (what indexes point into).
    labels: what asked for each pick: a face index into candidates (index mode) or a reference's label
    (reference mode), the values source_faces_index pairs with. picked: the faces asked for, in that order;
    None where a face is missing (an index past the end, no face close enough to a reference)."""

    candidates: tuple[Face, ...]
    labels: tuple[int, ...]
    picked: tuple[Face | None, ...]
    missing_reason: str | None = None  # why faces are missing, when not "index past the end" (reference mode)

    @property
    def available(self) -> int:
        return len(self.candidates)

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(i for i, f in zip(self.labels, self.picked) if f is None)

    @property
    def picked_positions(self) -> set[int]:
        """Positions in candidates of the picked faces (what a preview marks)."""
        return {k for k, face in enumerate(self.candidates) if any(face is p for p in self.picked)}


def select_faces(faces: list[Face], order: str, gender: str, indexes: list[int]) -> Selection:
    """Order, filter by gender, then pick by index: exactly the API's sequence."""
    candidates = filter_by_gender(order_faces(faces, order), gender)
    picked = tuple(candidates[i] if i < len(candidates) else None for i in indexes)
    return Selection(candidates=tuple(candidates), labels=tuple(indexes), picked=picked)


def missing_faces_reason(selection: Selection, index_name: str, tracked: bool = False, role: str = "target") -> str:
    """Why the faces a selection asked for are missing, in the words every node and the server use."""
    if selection.missing_reason:
        return selection.missing_reason
    missing = ", ".join(map(str, selection.missing))
    if tracked:
        return f"no face followed for {index_name} {missing} (track_faces)"
    found = "no face" if selection.available == 0 else f"only {selection.available} face(s)"
    return f"{role} has {found} after filtering; {index_name} asks for {missing}"


def require_all(selection: Selection, role: str, index_name: str) -> list[Face]:
    """The source rule: every requested index must exist, else the spec's 400 error."""
    if selection.missing:
        asked = selection.missing[0]
        raise BadInput(
            f"{role} has {selection.available} faces after filtering; {index_name} asks for {asked}"
        )
    return list(selection.picked)


def pair_indexes(source: list[int], target: list[int]) -> list[tuple[int, int]]:
    """Pair the k-th target index with the k-th source index; one source index serves every target."""
    if len(source) == 1:
        return [(source[0], t) for t in target]
    if len(source) != len(target):
        raise BadInput(
            f"source_faces_index has {len(source)} indexes and input_faces_index has {len(target)}; "
            "give one source index, or as many as target indexes"
        )
    return list(zip(source, target))
