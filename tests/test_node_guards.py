"""Inside ComfyUI a workflow is a file from a stranger: Load Face's widgets may not reach this machine's
network or files, no error quotes what was read, and Save Face Model names are plain file names."""

from __future__ import annotations

import os
import shutil

import pytest

from server_harness import Listener, image_host
from support import FACES
from faceswap_v3.nodes.load_face import LoadFace
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.analysis.face_model import face_model_path


@pytest.fixture(autouse=True)
def _no_opt_ins(monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_ALLOW_PRIVATE_URLS", raising=False)
    monkeypatch.delenv("FACESWAP_V3_IMAGE_FOLDERS", raising=False)


def load(reference: str):
    return LoadFace().load(image=None, url_or_path_or_base64=reference)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "2130706433", "localhost", "127.1"])
def test_loopback_urls_are_refused_without_the_opt_in_and_never_connected_to(host):
    listener = Listener("::1" if host == "[::1]" else "127.0.0.1")
    try:
        with pytest.raises(BadInput) as info:
            load(f"http://{host}:{listener.port}/face.jpg")
        assert not listener.connection_attempted()
    finally:
        listener.close()
    message = str(info.value)
    assert message.startswith("Load Face url_or_path_or_base64") and "only public addresses are fetched" in message
    assert "set the environment variable FACESWAP_V3_ALLOW_PRIVATE_URLS=1" in message


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.jpg",
                                 "http://[fd00::1]/x.jpg", "http://192.168.1.1/x.jpg"])
def test_private_network_urls_are_refused_without_the_opt_in(url):
    with pytest.raises(BadInput, match="FACESWAP_V3_ALLOW_PRIVATE_URLS=1"):
        load(url)


def test_with_the_opt_in_a_loopback_answer_that_is_no_image_is_refused_without_quoting_it(monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_ALLOW_PRIVATE_URLS", "1")
    with image_host("127.0.0.1", {"/secret": (200, {"Content-Type": "text/plain"}, b"TOPSECRET-key-0123")}) as base:
        with pytest.raises(BadInput) as info:
            load(f"{base}/secret")
    assert "is not an image" in str(info.value) and "TOPSECRE" not in str(info.value)


@pytest.mark.parametrize("reference", ["/etc/passwd", "../../../../../../etc/passwd", "/proc/self/environ"])
def test_paths_outside_the_allowed_folders_are_refused_and_never_read(reference):
    with pytest.raises(BadInput) as info:
        load(reference)
    message = str(info.value)
    assert "is outside the folders Load Face reads" in message and "FACESWAP_V3_IMAGE_FOLDERS" in message
    assert "root:" not in message
    # the change key of a refused path is the text itself, not a digest of the file
    assert LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=reference) == reference


def test_a_listed_folder_is_readable_and_a_file_that_is_no_image_is_never_quoted(tmp_path, monkeypatch):
    photo, key = tmp_path / "face.jpg", tmp_path / "key.png"
    shutil.copyfile(FACES / "portrait_male_02.jpg", photo)
    key.write_bytes(b"sk-live-0123456789abcdef")
    with pytest.raises(BadInput, match="outside the folders"):
        load(str(photo))
    monkeypatch.setenv("FACESWAP_V3_IMAGE_FOLDERS", os.pathsep.join(["/nonexistent", str(tmp_path)]))
    (image,) = load(str(photo))
    assert tuple(image.shape) == (1, 418, 740, 3)
    with pytest.raises(BadInput) as info:
        load(str(key))
    assert "is not an image" in str(info.value) and "sk-live" not in str(info.value)


def test_a_symlink_in_a_listed_folder_cannot_point_outside_it(tmp_path, monkeypatch):
    (tmp_path / "link.png").symlink_to("/etc/passwd")
    monkeypatch.setenv("FACESWAP_V3_IMAGE_FOLDERS", str(tmp_path))
    with pytest.raises(BadInput, match="outside the folders"):
        load(str(tmp_path / "link.png"))


def test_an_oversized_file_is_refused_by_its_size_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "huge.png"
    with open(big, "wb") as f:  # sparse: 1 GiB on paper, nothing on disk
        f.truncate(1 << 30)
    monkeypatch.setenv("FACESWAP_V3_IMAGE_FOLDERS", str(tmp_path))
    with pytest.raises(BadInput, match=r"is 1073741824 bytes; the limit for an image file is 268435456"):
        load(str(big))


@pytest.mark.parametrize("name", ["escape\n", "name\n.safetensors", "ok\r", "a/b", "..", ".hidden"])
def test_save_face_model_refuses_names_with_a_trailing_newline_or_a_path(tmp_path, name):
    with pytest.raises(BadInput, match="is not a plain file name"):
        face_model_path(tmp_path, name)
    assert face_model_path(tmp_path, "escape").name == "escape.safetensors"
