"""SwapModels: the swap models a job needs, resolved through a ModelStore and kept by the model cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelUnavailable
from ..face_masks import FaceMasker, MaskOptions, Occluder, Parser
from ..onnx_swapper import OnnxSwapper
from ..recognition import Recognizer
from ..restore import Restorer
from .cache import model_cache
from .locate import find_file
from .registry import MODEL_FILES
from .store import ModelStore

DEFAULT_SWAPPER = "inswapper_128.onnx"
SWAPPER_FOLDERS = ("insightface", "reswapper", "hyperswap")  # ReActor's folders, so its users' files are found
MASK_FOLDER = "face_parsing"
RECOGNIZER_FILE = "models/buffalo_l/w600k_r50.onnx"


@dataclass
class SwapModels:
    """The swapper, recognizer and restorers a swap needs, kept by the active model cache
    (once per process outside ComfyUI).

    swapper / recognizer: a registered name, a name in the folder, or a path (the CLI's flags)."""

    store: ModelStore = field(default_factory=ModelStore)
    device: str | None = None
    swapper_file: str = DEFAULT_SWAPPER
    recognizer_file: str = RECOGNIZER_FILE
    runs_on: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # file name -> where it ran

    def _resolve(self, name: str, folder: str | tuple[str, ...]) -> Path:
        if Path(name).is_absolute() or Path(name).is_file():
            if not Path(name).is_file():
                raise ModelUnavailable(f"model file {name} not found")
            return Path(name)
        if name in MODEL_FILES:
            return self.store.path(name)
        dirs = [d for f in ((folder,) if isinstance(folder, str) else folder) for d in self.store.dirs(f)]
        found = find_file(name, dirs)
        if found is None:
            looked = ", ".join(str(d) for d in dirs)
            raise ModelUnavailable(f"model file {name} not found (looked in: {looked})")
        return found

    def _cached(self, kind: str, path: Path, build):
        model = model_cache().get(kind, path, self.device, lambda: build(path))
        self.runs_on[path.name] = model.runs_on
        return model

    def swapper(self) -> OnnxSwapper:
        return self._cached("swapper", self._resolve(self.swapper_file, SWAPPER_FOLDERS), OnnxSwapper)

    def masker(self, options: MaskOptions) -> FaceMasker:
        """The face masks the options ask for, with their models loaded (once per process)."""
        occluder = parser = None
        if "occlusion" in options.types:
            occluder = self._cached("occluder", self._resolve(options.occluder, MASK_FOLDER), Occluder)
        if "region" in options.types:
            parser = self._cached("parser", self._resolve(options.parser, MASK_FOLDER), Parser)
        return FaceMasker(options, occluder, parser)

    def recognizer(self) -> Recognizer:
        return self._cached("recognizer", self._resolve(self.recognizer_file, "insightface"), Recognizer)

    def restorer(self, name: str) -> Restorer:
        path = self._resolve(name, "facerestore_models")
        return self._cached("restorer", path, lambda p: Restorer(p, self.device))
