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
    settings = {"size": None, "sha256": hashlib.sha256(PAYLOAD).hexdigest(), **changes}
    return replace(model_file("detection_mobilenet0.25_Final.pth"), url=url, **settings)


def zip_of(members: dict[str, bytes]) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return archive.getvalue()


def genderage_entry(url: str, archive: bytes, member: bytes | str):
    """buffalo_l's genderage.onnx entry, published as this archive at url with this member (or hash)."""
    sha256 = member if isinstance(member, str) else hashlib.sha256(member).hexdigest()
    return replace(model_file("models/buffalo_l/genderage.onnx"), url=url, sha256=sha256, size=None,
                   archive_sha256=hashlib.sha256(archive).hexdigest(), archive_size=len(archive))


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
    archive = zip_of({"buffalo_l/genderage.onnx": b"genderage", "buffalo_l/det_10g.onnx": b"det"})
    http_server.routes["/buffalo_l.zip"] = (200, {}, archive)
    entry = genderage_entry(http_server.url + "/buffalo_l.zip", archive, b"genderage")
    path = ensure_model(entry, [tmp_path / "insightface"])
    assert path == tmp_path / "insightface" / "models" / "buffalo_l" / "genderage.onnx"
    assert path.read_bytes() == b"genderage"
    assert (path.parent / "det_10g.onnx").read_bytes() == b"det"
    assert sorted(p.name for p in path.parent.iterdir()) == ["det_10g.onnx", "genderage.onnx"]


# Published values, copied from the issue that registered them (two sources each).
PUBLISHED = {
    "inswapper_128.onnx": ("e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af", 554_253_681),
    "GFPGANv1.3.pth": ("c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", 348_632_874),
    "GFPGANv1.4.pth": ("e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348_632_874),
    "codeformer-v0.1.0.pth": ("1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7", 376_637_898),
    "detection_Resnet50_Final.pth": ("6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", 109_497_761),
    "models/buffalo_l/det_10g.onnx": ("5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91", None),
    "models/buffalo_l/w600k_r50.onnx": ("4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43", None),
    "models/buffalo_l/genderage.onnx": ("4fde69b1c810857b88c64a335084f1c3fe8f01246c9a191b48c7bb756d6652fb", None),
}
BUFFALO_L_ZIP = ("80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f", 288_621_354)
# No published SHA-256 could be found for these (the README says so); FaceFusion publishes only CRC32
# .hash files for its mask models, which could not be fetched here.
NO_PUBLISHED_VALUE = {"yolov5l-face.pth", "yolov5n-face.pth", "xseg_2.onnx", "xseg_3.onnx", "bisenet_resnet_18.onnx",
                      "bisenet_resnet_34.onnx", "nsfw_1.onnx", "nsfw_2.onnx", "nsfw_3.onnx"}


def test_every_download_carries_its_published_sha256_and_size():
    for name, entry in MODEL_FILES.items():
        if name in NO_PUBLISHED_VALUE:
            assert entry.sha256 is None and entry.download_sha256 is None
            continue
        assert entry.download_sha256 and len(entry.download_sha256) == 64 and entry.download_size, name
        if name in PUBLISHED:
            assert (entry.sha256, entry.size) == PUBLISHED[name], name
        if entry.archive_member:
            assert (entry.archive_sha256, entry.archive_size) == BUFFALO_L_ZIP, name


def test_the_registered_mobilenet_detector_matches_the_real_file():
    from support import MODELS

    entry = MODEL_FILES["detection_mobilenet0.25_Final.pth"]
    data = (MODELS / entry.name).read_bytes()
    assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry.sha256, entry.size)


def test_a_download_of_the_wrong_size_is_removed_and_says_so(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    http_server.routes["/short.pth"] = (200, {}, PAYLOAD[:1000])
    http_server.routes["/long.pth"] = (200, {}, PAYLOAD + b"more")
    with pytest.raises(ModelUnavailable, match=r"is 1000 bytes, expected 1048576; the file was removed"):
        ensure_model(entry_at(http_server.url + "/short.pth", size=len(PAYLOAD)), [tmp_path])
    with pytest.raises(ModelUnavailable, match=r"grew past its published size of 1048576 bytes"):
        ensure_model(entry_at(http_server.url + "/long.pth", size=len(PAYLOAD)), [tmp_path])
    assert list(tmp_path.iterdir()) == []


def test_a_failed_extraction_leaves_no_part_file_and_no_half_set(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    member = b"genderage-weights" * 1000
    archive = zip_of({"buffalo_l/det_10g.onnx": b"det", "buffalo_l/genderage.onnx": member})
    corrupt = archive.replace(member[:100], b"X" * 100, 1)  # the member's CRC no longer matches
    http_server.routes["/buffalo_l.zip"] = (200, {}, corrupt)
    entry = genderage_entry(http_server.url + "/buffalo_l.zip", corrupt, member)
    folder = tmp_path / "insightface"
    with pytest.raises(ModelUnavailable, match=r"is not a valid zip archive \(Bad CRC-32.*nothing was extracted"):
        ensure_model(entry, [folder])
    assert [p for p in folder.rglob("*") if p.is_file()] == []


def test_an_extracted_member_whose_sha256_differs_is_removed(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    archive = zip_of({"buffalo_l/det_10g.onnx": b"det", "buffalo_l/genderage.onnx": b"not the published one"})
    http_server.routes["/buffalo_l.zip"] = (200, {}, archive)
    entry = genderage_entry(http_server.url + "/buffalo_l.zip", archive, "0" * 64)
    folder = tmp_path / "insightface"
    with pytest.raises(ModelUnavailable, match=r"genderage.onnx \(from buffalo_l.zip\) has SHA-256 [0-9a-f]{64}, "
                                               r"expected 0{64}; the file was removed"):
        ensure_model(entry, [folder])
    assert [p for p in folder.rglob("*") if p.is_file()] == []


def test_registered_files_are_checked_as_registered(tmp_path, http_server, monkeypatch):
    """The real registry entries (only the address moved to loopback): other bytes never land."""
    monkeypatch.delenv("FACESWAP_V3_OFFLINE")
    http_server.routes["/f"] = (200, {}, PAYLOAD)
    for name in ("GFPGANv1.4.pth", "inswapper_128.onnx", "models/buffalo_l/w600k_r50.onnx"):
        entry = replace(model_file(name), url=http_server.url + "/f")
        with pytest.raises(ModelUnavailable, match=r"is 1048576 bytes, expected \d+; the file was removed"):
            ensure_model(entry, [tmp_path])
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
