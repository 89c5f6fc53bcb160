"""Every model file the product uses, as data: folder, download address, size and checksum."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelUnavailable

_CODEFORMER_RELEASE = "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0"
_GFPGAN_RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"
_BUFFALO_L = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"
_FACEFUSION_ASSETS = "https://github.com/facefusion/facefusion-assets/releases/download"


@dataclass(frozen=True)
class ModelFile:
    """One model file. folder is the ComfyUI models sub-folder (ReActor's names).

    sha256 / size: the file's published values (None only where no trustworthy value was found:
    the YOLOv5-face detectors, see the README).
    archive_member: when the file is published inside a zip at url, its name in that zip;
    archive_sha256 / archive_size are then the zip's published values, checked before extraction.
    """

    name: str
    folder: str
    url: str
    licence: str
    sha256: str | None = None
    size: int | None = None
    archive_member: str | None = None
    archive_sha256: str | None = None
    archive_size: int | None = None

    @property
    def download_sha256(self) -> str | None:
        """The SHA-256 of what url serves: the zip for an archive member, else the file."""
        return self.archive_sha256 if self.archive_member else self.sha256

    @property
    def download_size(self) -> int | None:
        return self.archive_size if self.archive_member else self.size


_BUFFALO_L_ZIP = {"archive_sha256": "80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f",
                  "archive_size": 288_621_354}
_INSIGHTFACE_LICENCE = "insightface (non-commercial research only)"

_FILES = [
    ModelFile("detection_Resnet50_Final.pth", "facedetection", f"{_CODEFORMER_RELEASE}/detection_Resnet50_Final.pth",
              "MIT (biubug6/Pytorch_Retinaface)",
              sha256="6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", size=109_497_761),
    ModelFile("detection_mobilenet0.25_Final.pth", "facedetection",
              f"{_CODEFORMER_RELEASE}/detection_mobilenet0.25_Final.pth", "MIT (biubug6/Pytorch_Retinaface)",
              sha256="2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220", size=1_789_735),
    ModelFile("yolov5l-face.pth", "facedetection", f"{_CODEFORMER_RELEASE}/yolov5l-face.pth", "GPL-3.0 (YOLOv5-face)"),
    ModelFile("yolov5n-face.pth", "facedetection", f"{_CODEFORMER_RELEASE}/yolov5n-face.pth", "GPL-3.0 (YOLOv5-face)"),
    ModelFile("codeformer-v0.1.0.pth", "facerestore_models", f"{_CODEFORMER_RELEASE}/codeformer.pth",
              "S-Lab licence 1.0 (non-commercial)",
              sha256="1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7", size=376_637_898),
    ModelFile("GFPGANv1.3.pth", "facerestore_models", f"{_GFPGAN_RELEASES}/v1.3.0/GFPGANv1.3.pth", "Apache-2.0",
              sha256="c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", size=348_632_874),
    ModelFile("GFPGANv1.4.pth", "facerestore_models", f"{_GFPGAN_RELEASES}/v1.3.4/GFPGANv1.4.pth", "Apache-2.0",
              sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", size=348_632_874),
    ModelFile("inswapper_128.onnx", "insightface",
              "https://huggingface.co/datasets/Gourieff/ReActor/resolve/main/models/inswapper_128.onnx",
              _INSIGHTFACE_LICENCE,
              sha256="e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af", size=554_253_681),
    ModelFile("models/buffalo_l/det_10g.onnx", "insightface", _BUFFALO_L, _INSIGHTFACE_LICENCE,
              sha256="5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
              archive_member="det_10g.onnx", **_BUFFALO_L_ZIP),
    ModelFile("models/buffalo_l/genderage.onnx", "insightface", _BUFFALO_L, _INSIGHTFACE_LICENCE,
              sha256="4fde69b1c810857b88c64a335084f1c3fe8f01246c9a191b48c7bb756d6652fb",
              archive_member="genderage.onnx", **_BUFFALO_L_ZIP),
    ModelFile("models/buffalo_l/w600k_r50.onnx", "insightface", _BUFFALO_L, _INSIGHTFACE_LICENCE,
              sha256="4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
              archive_member="w600k_r50.onnx", **_BUFFALO_L_ZIP),
    # Face-mask models as FaceFusion publishes them (folder: face_parsing). FaceFusion ships only CRC32
    # .hash files beside them, which this offline project could not fetch; the sizes and xseg_1's SHA-256
    # are the values two unrelated projects agree on for the same files. HyperSwap is deliberately absent:
    # its ResearchRAIL licence differs, so it is never downloaded for the user (models/hyperswap is yours).
    ModelFile("xseg_1.onnx", "face_parsing", f"{_FACEFUSION_ASSETS}/models-3.1.0/xseg_1.onnx",
              "GPL-3.0 (DeepFaceLab XSeg)",
              sha256="c4d1498b8a03b5fe2a3a5d2ef2a0402ab03bd51edaf5b2d8d5fb764702a97dd3", size=70324286),
    ModelFile("xseg_2.onnx", "face_parsing", f"{_FACEFUSION_ASSETS}/models-3.1.0/xseg_2.onnx",
              "GPL-3.0 (DeepFaceLab XSeg)"),
    ModelFile("xseg_3.onnx", "face_parsing", f"{_FACEFUSION_ASSETS}/models-3.2.0/xseg_3.onnx",
              "GPL-3.0 (DeepFaceLab XSeg)"),
    ModelFile("bisenet_resnet_18.onnx", "face_parsing", f"{_FACEFUSION_ASSETS}/models-3.1.0/bisenet_resnet_18.onnx",
              "MIT (yakhyo/face-parsing)"),
    ModelFile("bisenet_resnet_34.onnx", "face_parsing", f"{_FACEFUSION_ASSETS}/models-3.0.0/bisenet_resnet_34.onnx",
              "MIT (yakhyo/face-parsing)", size=93632546),
]

# FaceFusion's content analysers (folder: content_analyser). FaceFusion publishes CRC32 .hash files only,
# so no SHA-256 is recorded; the sizes are the values two unrelated download lists agree on.
_FILES += [
    ModelFile("nsfw_1.onnx", "content_analyser", f"{_FACEFUSION_ASSETS}/models-3.3.0/nsfw_1.onnx",
              "Apache-2.0 (EraX NSFW detector)", size=80_414_194),
    ModelFile("nsfw_2.onnx", "content_analyser", f"{_FACEFUSION_ASSETS}/models-3.3.0/nsfw_2.onnx",
              "Apache-2.0 (Marqo nsfw-image-detection-384)", size=22_489_928),
    ModelFile("nsfw_3.onnx", "content_analyser", f"{_FACEFUSION_ASSETS}/models-3.3.0/nsfw_3.onnx",
              "MIT (Freepik nsfw_image_detector)", size=358_188_033),
]

MODEL_FILES: dict[str, ModelFile] = {f.name: f for f in _FILES}



@dataclass(frozen=True)
class DetectorEntry:
    """A facedetection value and the registered file it loads. Which detector class runs the file is read
    from the file itself (pipeline/analysis/detectors/__init__.py). api: one of the hosted API's four."""

    name: str
    file: str
    api: bool = False


# Adding a detector: one entry here (and its ModelFile above), plus, for a new kind of network, its class
# in pipeline/analysis/detectors/ (a TorchDetector subclass registers itself). The facedetection option's values
# (options.py) and the widgets' lists are made from these entries.
DETECTORS = (
    DetectorEntry("retinaface_resnet50", "detection_Resnet50_Final.pth", api=True),
    DetectorEntry("retinaface_mobile0.25", "detection_mobilenet0.25_Final.pth", api=True),
    DetectorEntry("YOLOv5l", "yolov5l-face.pth", api=True),
    DetectorEntry("YOLOv5n", "yolov5n-face.pth", api=True),
    DetectorEntry("scrfd_10g (buffalo_l)", "models/buffalo_l/det_10g.onnx"),
)
DETECTOR_FILES = {detector.name: detector.file for detector in DETECTORS}
GENDERAGE_FILE = "models/buffalo_l/genderage.onnx"
OCCLUDER_FILES = ("xseg_1.onnx", "xseg_2.onnx", "xseg_3.onnx")
CONTENT_ANALYSER_FILES = ("nsfw_1.onnx", "nsfw_2.onnx", "nsfw_3.onnx")
PARSER_FILES = ("bisenet_resnet_34.onnx", "bisenet_resnet_18.onnx")


def model_file(name: str) -> ModelFile:
    try:
        return MODEL_FILES[name]
    except KeyError:
        raise ModelUnavailable(f"{name!r} is not a model this pack knows; use one of {', '.join(MODEL_FILES)}, or put "
                               "the file in its models folder and give its file name") from None
