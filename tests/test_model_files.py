"""Model lookup order and first-use download against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from dataclasses import replace

import pytest

from faceswap_v3.pipeline.errors import ModelUnavailable
from faceswap_v3.pipeline.models.download import ensure_model
from faceswap_v3.pipeline.models.locate import search_dirs, user_cache_root
from faceswap_v3.pipeline.models.registry import DETECTOR_FILES, MODEL_FILES, model_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.options import API_DETECTORS, RESTORERS

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def entry_at(url: str, **changes):
    return replace(model_file("detection_mobilenet0.25_Final.pth"), url=url, size=None,
                   sha256=hashlib.sha256(PAYLOAD).hexdigest(), **changes)


def test_registry_names_every_file_the_api_uses_with_reactors_folders():
    for detector in API_DETECTORS:
        assert MODEL_FILES[DETECTOR_FILES[detector]].folder == "facedetection"
    for restorer in RESTORERS:
        assert MODEL_FILES[restorer].folder == "facerestore_models"
    assert MODEL_FILES["inswapper_128.onnx"].folder == "insightface"
    assert MODEL_FILES["models/buffalo_l/genderage.onnx"].folder == "insightface"
    for entry in MODEL_FILES.values():
        assert entry.url.startswith("https://") and entry.licence


def test_lookup_order_first_dirs_then_models_root_then_user_cache(tmp_path, monkeypatch):
    comfy, env_root, cli_root = tmp_path / "comfy", tmp_path / "env", tmp_path / "cli"
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(env_root))
    assert search_dirs("facedetection", [comfy]) == [comfy, env_root / "facedetection",
                                                     user_cache_root() / "facedetection"]
    assert search_dirs("facedetection", None, cli_root)[0] == cli_root / "facedetection"

    name = "detection_mobilenet0.25_Final.pth"
    for folder in (env_root / "facedetection", comfy):
        folder.mkdir(parents=True)
        (folder / name).write_bytes(b"x")
    store = ModelStore(first_dirs={"facedetection": [comfy]}, allow_download=False)
    assert store.path(name) == comfy / name
    (comfy / name).unlink()
    assert store.path(name) == env_root / "facedetection" / name


def test_download_reports_progress_verifies_and_renames(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    http_server.routes["/m.pth"] = (200, {"Content-Type": "application/octet-stream"}, PAYLOAD)
    seen = []
    path = ensure_model(entry_at(http_server.url + "/m.pth"), [tmp_path / "a", tmp_path / "b"],
                        progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "a" / "detection_mobilenet0.25_Final.pth"
    assert path.read_bytes() == PAYLOAD
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert list((tmp_path / "a").iterdir()) == [path]


def test_checksum_mismatch_is_rejected_and_the_partial_file_removed(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    http_server.routes["/m.pth"] = (200, {}, PAYLOAD[:-1] + b"!")
    with pytest.raises(ModelUnavailable, match=r"detection_mobilenet0.25_Final.pth has SHA-256 [0-9a-f]{64}, expected"):
        ensure_model(entry_at(http_server.url + "/m.pth"), [tmp_path])
    assert list(tmp_path.iterdir()) == []


def test_offline_error_names_the_file_where_it_looked_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/detection_mobilenet0.25_Final.pth"
    with pytest.raises(ModelUnavailable) as info:
        ensure_model(entry_at(url), [tmp_path / "first", tmp_path / "second"], timeout_s=5)
    message = str(info.value)
    assert "could not download detection_mobilenet0.25_Final.pth" in message
    assert str(tmp_path / "first") in message and str(tmp_path / "second") in message
    assert f"Download it by hand from {url}" in message
    assert not any((tmp_path / "first").iterdir())


def test_downloads_switched_off_say_so(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"not found \(looked in: .*\); downloads are off\. Get it from https://"):
        ModelStore(models_root=tmp_path).path("GFPGANv1.4.pth")


def test_http_error_status_is_reported(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    with pytest.raises(ModelUnavailable, match="answered HTTP 404"):
        ensure_model(entry_at(http_server.url + "/missing.pth"), [tmp_path])


def test_archive_member_is_extracted_with_its_siblings(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("buffalo_l/genderage.onnx", b"genderage")
        zf.writestr("buffalo_l/det_10g.onnx", b"det")
    http_server.routes["/buffalo_l.zip"] = (200, {}, archive.getvalue())
    entry = replace(model_file("models/buffalo_l/genderage.onnx"), url=http_server.url + "/buffalo_l.zip")
    path = ensure_model(entry, [tmp_path / "insightface"])
    assert path == tmp_path / "insightface" / "models" / "buffalo_l" / "genderage.onnx"
    assert path.read_bytes() == b"genderage"
    assert (path.parent / "det_10g.onnx").read_bytes() == b"det"
    assert sorted(p.name for p in path.parent.iterdir()) == ["det_10g.onnx", "genderage.onnx"]
