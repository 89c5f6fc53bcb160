"""The Faceswap V3 API's parameters as one validated record (nodes, CLI and server share it). Its fields,
their types, defaults and checks come from the option entries (options.request_options()); what later
steps need converted is kept converted here."""

from __future__ import annotations

from dataclasses import asdict, field, fields, make_dataclass

from .errors import BadInput
from .options import interpolation_flag, request_options
from .swap.pixel_boost import parse_pixel_boost
from .analysis.selection import parse_indexes


class _CheckedParams:
    """What every FaceswapParams does; the fields themselves are made from the option entries below."""

    def __post_init__(self) -> None:
        """Check every parameter, once: all the text fields' types first, then each value in the API's order.
        Kept converted: target_indexes, source_indexes, interpolation_flag."""
        options = request_options()
        for name, option in options.items():
            if option.kind is str:
                option.check_type(name, getattr(self, name))
        for name, option in options.items():
            option.check(name, getattr(self, name))
        self._keep("target_indexes", tuple(parse_indexes(self.input_faces_index, "input_faces_index")))
        self._keep("source_indexes", tuple(parse_indexes(self.source_faces_index, "source_faces_index")))
        self._keep("interpolation_flag", interpolation_flag(self.interpolation))
        parse_pixel_boost(self.pixel_boost)

    def _keep(self, name: str, value) -> None:
        object.__setattr__(self, name, value)  # a derived value, not a field: frozen, left out of to_mapping

    @classmethod
    def from_mapping(cls, values: dict) -> "FaceswapParams":
        """Build from API-style keys; unknown keys are an error naming them."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise BadInput(f"unknown parameter(s): {', '.join(unknown)}")
        return cls(**values)

    def to_mapping(self) -> dict:
        """The API's parameters; an extension only when it differs from the hosted API's behaviour."""
        options = request_options()
        return {name: value for name, value in asdict(self).items()
                if not (options[name].omit_at_default and value == options[name].default)}


FaceswapParams = make_dataclass(
    "FaceswapParams", [(name, option.kind, field(default=option.default)) for name, option in request_options().items()],
    bases=(_CheckedParams,), frozen=True)
FaceswapParams.__module__ = __name__
