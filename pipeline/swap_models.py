"""SwapModels: the swap models a job needs, resolved through a ModelStore and kept by the model cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import ModelMissing
from .swap.face_masks import FaceMasker, MaskOptions, Occluder, Parser
from .swap.onnx_swapper import OnnxSwapper
from .analysis.recognition import Recognizer
from .restore.restorer import Restorer
from .models.cache import model_cache
from .models.locate import find_file
from .models.store import ModelStore, NeededModel

DEFAULT_SWAPPER = "inswapper_128.onnx"
SWAPPER_FOLDERS = ("insightface", "reswapper", "hyperswap")  # ReActor's folders, so its users' files are found
MASK_FOLDER = "face_parsing"
RECOGNIZER_FILE = "models/buffalo_l/w600k_r50.onnx"
FP16_VARIANTS = {DEFAULT_SWAPPER: "inswapper_128_fp16.onnx"}  # the name ReActor distributes it under


def swapper_for_device(name: str, onnx_on_gpu: bool, have: Callable[[str], bool]) -> str:
    """On a GPU, the fp16 variant of the named swapper where the user has it (half the memory traffic);
    on the CPU, where float16 runs slower, the file named."""
    variant = FP16_VARIANTS.get(name)
    return variant if onnx_on_gpu and variant is not None and have(variant) else name


MASK_MODEL_CLASSES = {"occluder": Occluder, "parser": Parser}


def mask_models(options: MaskOptions) -> dict[str, NeededModel]:
    """The mask model files the options' mask types load: the occluder for occlusion, the parser for region."""
    wanted = {}
    if "occlusion" in options.types:
        wanted["occluder"] = NeededModel(options.occluder, (MASK_FOLDER,))
    if "region" in options.types:
        wanted["parser"] = NeededModel(options.parser, (MASK_FOLDER,))
    return wanted


def restorer_model(name: str) -> NeededModel:
    return NeededModel(name, ("facerestore_models",))


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

    @property
    def on_gpu(self) -> bool:
        """Whether the models run on a GPU (onnxruntime's CUDA provider, or a torch CUDA device)."""
        from .runtime.devices import torch_device
        from .runtime.onnx_session import default_providers

        return default_providers()[0] == "CUDAExecutionProvider" or torch_device(self.device).type == "cuda"

    def _resolve(self, need: NeededModel) -> Path:
        """need's file; a path (the CLI's flags) is taken as it is."""
        name = need.name
        if Path(name).is_absolute() or Path(name).is_file():
            if not Path(name).is_file():
                raise ModelMissing(f"model file {name} not found", name, need.folders)
            return Path(name)
        return self.store.resolve(need)

    def _cached(self, kind: str, path: Path, build):
        model = model_cache().get(kind, path, self.device, lambda: build(path))
        self.runs_on[path.name] = model.runs_on
        return model

    def swapper_model(self) -> NeededModel:
        """The swapper file a swap needs (on a GPU its fp16 variant is used instead where it is on disk)."""
        return NeededModel(self.swapper_file, SWAPPER_FOLDERS)

    def swapper(self) -> OnnxSwapper:
        from .runtime.onnx_session import default_providers

        dirs = [d for folder in SWAPPER_FOLDERS for d in self.store.dirs(folder)]
        on_gpu = default_providers()[0] == "CUDAExecutionProvider"
        name = swapper_for_device(self.swapper_file, on_gpu, lambda variant: find_file(variant, dirs) is not None)
        return self._cached("swapper", self._resolve(NeededModel(name, SWAPPER_FOLDERS)), OnnxSwapper)

    def masker(self, options: MaskOptions) -> FaceMasker:
        """The face masks the options ask for, with their models loaded (once per process)."""
        loaded = {kind: self._cached(kind, self._resolve(need), MASK_MODEL_CLASSES[kind])
                  for kind, need in mask_models(options).items()}
        return FaceMasker(options, loaded.get("occluder"), loaded.get("parser"))

    def recognizer_model(self) -> NeededModel:
        return NeededModel(self.recognizer_file, ("insightface",))

    def recognizer(self) -> Recognizer:
        return self._cached("recognizer", self._resolve(self.recognizer_model()), Recognizer)

    def restorer(self, name: str) -> Restorer:
        path = self._resolve(restorer_model(name))
        return self._cached("restorer", path, lambda p: Restorer(p, self.device))
