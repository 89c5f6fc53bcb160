"""Every model file the product uses, as data: folder, download address, size and checksum."""

from __future__ import annotations

from dataclasses import dataclass

_CODEFORMER_RELEASE = "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0"
_GFPGAN_RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"
_BUFFALO_L = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"
_FACEFUSION_ASSETS = "https://github.com/facefusion/facefusion-assets/releases/download"


@dataclass(frozen=True)
class ModelFile:
    """One model file. folder is the ComfyUI models sub-folder (ReActor's names).

    archive_member: when the file is published inside a zip at url, its path in that zip.
    sha256 / size: published values where a trustworthy one exists, else None.
    """

    name: str
    folder: str
    url: str
    licence: str
    sha256: str | None = None
    size: int | None = None
    archive_member: str | None = None


_FILES = [
    ModelFile("detection_Resnet50_Final.pth", "facedetection", f"{_CODEFORMER_RELEASE}/detection_Resnet50_Final.pth",
              "MIT (biubug6/Pytorch_Retinaface)"),
    ModelFile("detection_mobilenet0.25_Final.pth", "facedetection",
              f"{_CODEFORMER_RELEASE}/detection_mobilenet0.25_Final.pth", "MIT (biubug6/Pytorch_Retinaface)",
              sha256="2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220", size=1789735),
    ModelFile("yolov5l-face.pth", "facedetection", f"{_CODEFORMER_RELEASE}/yolov5l-face.pth", "GPL-3.0 (YOLOv5-face)"),
    ModelFile("yolov5n-face.pth", "facedetection", f"{_CODEFORMER_RELEASE}/yolov5n-face.pth", "GPL-3.0 (YOLOv5-face)"),
    ModelFile("codeformer-v0.1.0.pth", "facerestore_models", f"{_CODEFORMER_RELEASE}/codeformer.pth",
              "S-Lab licence 1.0 (non-commercial)"),
    ModelFile("GFPGANv1.3.pth", "facerestore_models", f"{_GFPGAN_RELEASES}/v1.3.0/GFPGANv1.3.pth", "Apache-2.0"),
    ModelFile("GFPGANv1.4.pth", "facerestore_models", f"{_GFPGAN_RELEASES}/v1.3.4/GFPGANv1.4.pth", "Apache-2.0"),
    ModelFile("inswapper_128.onnx", "insightface",
              "https://huggingface.co/datasets/Gourieff/ReActor/resolve/main/models/inswapper_128.onnx",
              "insightface (non-commercial research only)"),
    ModelFile("models/buffalo_l/det_10g.onnx", "insightface", _BUFFALO_L,
              "insightface (non-commercial research only)", archive_member="det_10g.onnx"),
    ModelFile("models/buffalo_l/genderage.onnx", "insightface", _BUFFALO_L,
              "insightface (non-commercial research only)", archive_member="genderage.onnx"),
    ModelFile("models/buffalo_l/w600k_r50.onnx", "insightface", _BUFFALO_L,
              "insightface (non-commercial research only)", archive_member="w600k_r50.onnx"),
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

MODEL_FILES: dict[str, ModelFile] = {f.name: f for f in _FILES}

DETECTOR_FILES = {
    "retinaface_resnet50": "detection_Resnet50_Final.pth",
    "retinaface_mobile0.25": "detection_mobilenet0.25_Final.pth",
    "YOLOv5l": "yolov5l-face.pth",
    "YOLOv5n": "yolov5n-face.pth",
    "scrfd_10g (buffalo_l)": "models/buffalo_l/det_10g.onnx",
}
GENDERAGE_FILE = "models/buffalo_l/genderage.onnx"
OCCLUDER_FILES = ("xseg_1.onnx", "xseg_2.onnx", "xseg_3.onnx")
PARSER_FILES = ("bisenet_resnet_34.onnx", "bisenet_resnet_18.onnx")


def model_file(name: str) -> ModelFile:
    try:
        return MODEL_FILES[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a model this pack knows; known: {', '.join(MODEL_FILES)}") from None
