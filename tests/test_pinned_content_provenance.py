"""Behaviours of the content check and of provenance that a change could break silently, each pinned: the
nodes look for a classifier again when none was installed, FACESWAP_V3_CONTENT_CLASSIFIER picks one (and a
typo is one line naming it), `auto` never downloads an analyser, an analyser of the wrong shape is refused
when loaded; only the swap model's file name goes into the marks, XMP is escaped, WebP honours its quality,
P-256 and P-384 signing certificates sign as ES256 and ES384."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

import standins
from faceswap_v3.nodes import content_gate
from faceswap_v3.nodes.content_gate import ENV_CLASSIFIER, node_check
from faceswap_v3.pipeline.content_check import installed_check, load_check
from faceswap_v3.pipeline.content_check.facefusion_nsfw import ANALYSERS, FacefusionNsfw
from faceswap_v3.pipeline.errors import BadInput, ModelUnavailable
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.provenance.marks import encode_marked, software
from support import FACES

XMP_NS = "{http://ns.adobe.com/xap/1.0/}"
PHOTO = read_image_file(FACES / "portrait_male_02.jpg")


def _nudenet_installed() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("nudenet")


@pytest.fixture
def models(tmp_path, monkeypatch):
    """An empty models root the nodes use (FACESWAP_V3_MODELS), no classifier loaded yet in this process."""
    root = tmp_path / "models"
    (root / "content_analyser").mkdir(parents=True)
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(root))
    monkeypatch.setattr(content_gate, "_loaded", {})
    return root


def test_no_classifier_installed_is_looked_for_again_on_the_next_run(models, monkeypatch):
    monkeypatch.setenv(ENV_CLASSIFIER, "facefusion")
    assert node_check("on") is None
    standins.content_analysers(models / "content_analyser")  # installed while ComfyUI runs
    check = node_check("on")
    assert check is not None and check.name == "facefusion nsfw_1/2/3"
    assert node_check("on") is check  # once found, loaded once
    assert node_check("off") is None


def test_the_setting_picks_the_classifier_even_when_both_are_installed(models, monkeypatch):
    _nudenet_installed()
    standins.content_analysers(models / "content_analyser")
    monkeypatch.setenv(ENV_CLASSIFIER, "nudenet")
    assert node_check("on").name == "nudenet"
    monkeypatch.setenv(ENV_CLASSIFIER, "facefusion")
    assert node_check("on").name == "facefusion nsfw_1/2/3"
    monkeypatch.setenv(ENV_CLASSIFIER, " NudeNet ")
    assert node_check("on").name == "nudenet"
    monkeypatch.setenv(ENV_CLASSIFIER, "  ")  # blank: whichever is installed, nudenet first
    assert node_check("on").name == "nudenet"


@pytest.mark.parametrize("typo", ["nudnet", "facefusion,nudenet", "auto", "off"])
def test_a_typo_in_the_setting_is_one_line_naming_it_and_its_values(models, monkeypatch, typo):
    monkeypatch.setenv(ENV_CLASSIFIER, typo)
    with pytest.raises(BadInput) as refused:
        node_check("on")
    message = str(refused.value)
    assert message == (f"{ENV_CLASSIFIER} must be facefusion or nudenet, got {typo!r}; unset it to use whichever "
                       "classifier is installed")
    assert node_check("off") is None  # off reads no setting


def test_auto_never_downloads_an_analyser(tmp_path, monkeypatch):
    """A partial FaceFusion set is named, never completed by a download, even where downloads are on: any
    download would go to a proxy on a closed loopback port and fail with another message."""
    monkeypatch.delenv("FACESWAP_V3_OFFLINE", raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    store = ModelStore(models_root=tmp_path, allow_download=True)
    assert installed_check(store, "facefusion") is None  # none present: none fetched
    standins.content_analyser(tmp_path / "content_analyser" / "nsfw_1.onnx", "nsfw_1")
    with pytest.raises(ModelUnavailable, match=r"nsfw_2\.onnx not found .*downloads are off"):
        installed_check(store, "facefusion")
    assert sorted(p.name for p in (tmp_path / "content_analyser").iterdir()) == ["nsfw_1.onnx"]


def test_an_analyser_with_the_wrong_input_shape_is_refused_when_loaded(tmp_path):
    standins.content_analysers(tmp_path)
    standins.content_analyser(tmp_path / "nsfw_2.onnx", "nsfw_1")  # 640 px where nsfw_2 takes 384
    wanted = r"nsfw_2\.onnx takes \[1, 3, 640, 640\]; nsfw_2 takes \[1, 3, 384, 384\]"
    with pytest.raises(ModelUnavailable, match=wanted):
        FacefusionNsfw({key: tmp_path / spec.file for key, spec in ANALYSERS.items()})


def test_an_unknown_classifier_name_is_bad_input():
    with pytest.raises(BadInput, match="unknown content classifier 'nsfw': use facefusion or nudenet"):
        load_check("nsfw", ModelStore(allow_download=False))


def xmp_of(data: bytes) -> ET.Element:
    with Image.open(io.BytesIO(data)) as image:
        return ET.fromstring(image.info.get("xmp") or image.info.get("XML:com.adobe.xmp"))


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp"])
def test_only_the_swap_models_file_name_goes_into_the_marks_and_xmp_is_escaped(tmp_path, image_format):
    model = tmp_path / "private" / 'swap<v2>&"final".onnx'
    data = encode_marked(PHOTO, image_format, 90, software(str(model)))
    with Image.open(io.BytesIO(data)) as image:
        exif_software = image.getexif().get(0x0131)
    tool = [e.text for e in xmp_of(data).iter(f"{XMP_NS}CreatorTool")]
    assert tool == [exif_software] and exif_software.endswith('(swap model: swap<v2>&"final".onnx)')
    assert str(tmp_path) not in exif_software and b"private" not in data


def test_webp_and_jpeg_honour_the_quality():
    for image_format in ("webp", "jpeg"):
        low, high = (len(encode_marked(PHOTO, image_format, q, software("m.onnx"))) for q in (10, 95))
        assert low * 2 < high, image_format


@pytest.mark.parametrize("curve, algorithm", [("SECP256R1", "Es256"), ("SECP384R1", "Es384")])
def test_p256_and_p384_certificates_sign_as_es256_and_es384(tmp_path, curve, algorithm):
    c2pa = pytest.importorskip("c2pa") if os.environ.get("CI") != "true" else __import__("c2pa")
    from cryptography.hazmat.primitives.asymmetric import ec

    from c2pa_test_ca import write_test_signer
    from faceswap_v3.pipeline.provenance.c2pa_manifest import C2paSigner

    signer = C2paSigner(*write_test_signer(tmp_path, getattr(ec, curve)()))
    result = encode_marked(np.full((32, 32, 3), 90, np.uint8), "png", 95, software("m.onnx"))
    signed = signer.sign(result, "png", result, "png")
    reader = c2pa.Reader("image/png", io.BytesIO(signed))
    report = json.loads(reader.json())
    reader.close()
    assert report["manifests"][report["active_manifest"]]["signature_info"]["alg"] == algorithm
