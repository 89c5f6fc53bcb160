"""Load Face against a hostile workflow and a hostile folder: a symlink flipped between an inside and an outside
file by another process never yields the outside file (what was opened is checked, not the name); a file
outside the folders and a missing one get the same answer; the change key of an oversized file is not a hash
of it; a 5,000-character name is refused like any other; the image widget is confined to ComfyUI's folders
and a blank FACESWAP_V3_IMAGE_FOLDERS adds no folder (never the current directory)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import FACES
from faceswap_v3.nodes import load_face
from faceswap_v3.nodes.comfy_env.folders import ImageFolders
from faceswap_v3.nodes.image_folders import ENV_IMAGE_FOLDERS, allowed_image_folders
from faceswap_v3.nodes.load_face import LoadFace, read_picked_image
from faceswap_v3.pipeline.errors import BadInput

FLIPPER = """
import os, sys
link, inside, outside, stop = sys.argv[1:5]
spare = link + ".next"
flips = 0
while not os.path.exists(stop):
    if os.path.lexists(spare):
        os.remove(spare)
    os.symlink(outside if flips % 2 else inside, spare)
    os.replace(spare, link)
    flips += 1
"""


@pytest.fixture(autouse=True)
def _no_opt_ins(monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_ALLOW_PRIVATE_URLS", raising=False)
    monkeypatch.delenv(ENV_IMAGE_FOLDERS, raising=False)


def write_png(path: Path, width: int, colour) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, 8), colour).save(path, format="PNG")
    return path


def load(reference: str):
    return LoadFace().load(image=None, url_or_path_or_base64=reference)


@pytest.fixture
def comfy(tmp_path) -> ImageFolders:
    dirs = ImageFolders(tmp_path / "input", tmp_path / "output", tmp_path / "temp")
    for folder in dirs.all():
        folder.mkdir()
    return dirs


class Flipper:
    """Another process flipping `link` between `inside` and `outside` as fast as it can."""

    def __init__(self, link: Path, inside: Path, outside: Path) -> None:
        self.stop = link.parent / "stop-flipping"
        self.process = subprocess.Popen([sys.executable, "-c", FLIPPER, str(link), str(inside), str(outside),
                                         str(self.stop)])
        while not link.is_symlink():
            pass

    def close(self) -> None:
        self.stop.touch()
        self.process.wait(timeout=30)


def test_a_symlink_flipped_between_inside_and_outside_never_yields_the_outside_file(tmp_path, comfy, monkeypatch):
    inside = write_png(comfy.input / "inside.png", 20, (0, 200, 0))
    outside = write_png(tmp_path / "private" / "outside.png", 30, (200, 0, 0))
    listed = tmp_path / "listed"
    listed.mkdir()
    shutil.copyfile(inside, listed / "inside.png")
    monkeypatch.setenv(ENV_IMAGE_FOLDERS, str(listed))
    outside_digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    widths = {"path": [], "widget": []}
    refused = {"path": 0, "widget": 0}
    keys = set()
    flippers = [Flipper(listed / "face.png", listed / "inside.png", outside),
                Flipper(comfy.input / "face.png", inside, outside)]
    try:
        for _ in range(600):
            for kind, read in (("path", lambda: load(str(listed / "face.png"))[0][0].numpy()),
                               ("widget", lambda: read_picked_image("face.png", comfy)[:, :, :])):
                try:
                    widths[kind].append(read().shape[1])
                except BadInput:
                    refused[kind] += 1
            keys.add(LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(listed / "face.png")))
    finally:
        for flipper in flippers:
            flipper.close()
    assert set(widths["path"]) == {20} and set(widths["widget"]) == {20}  # never the 30 px outside file
    assert refused["path"] > 0 and refused["widget"] > 0  # the race was run: some opens found the outside file
    assert outside_digest not in keys


def test_outside_files_that_exist_and_that_do_not_get_one_message(tmp_path, comfy):
    real = write_png(tmp_path / "elsewhere" / "real.png", 20, (1, 2, 3))
    missing = tmp_path / "elsewhere" / "fake.png"  # same length as real.png's path
    answers = []
    for path in (real, missing):
        with pytest.raises(BadInput) as refused:
            load(str(path))
        answers.append(str(refused.value).replace(str(path), "PATH"))
        assert LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(path)) == str(path)
    assert answers[0] == answers[1] and "outside the folders Load Face reads" in answers[0]
    widget = []
    for name in ("../elsewhere/real.png", "../elsewhere/fake.png"):
        with pytest.raises(BadInput) as refused:
            read_picked_image(name, comfy)
        widget.append(str(refused.value).replace(name, "NAME"))
    assert widget[0] == widget[1] and "is not a file in the input folder" in widget[0]


def test_an_oversized_files_change_key_is_its_size_and_time_not_a_hash(tmp_path, monkeypatch):
    big = tmp_path / "huge.png"
    with open(big, "wb") as file:  # sparse: 1.5 GB on paper, nothing on disk
        file.truncate(1536 << 20)
    monkeypatch.setenv(ENV_IMAGE_FOLDERS, str(tmp_path))
    key = LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(big))
    assert key.startswith(f"too large: {1536 << 20} bytes, modified ")
    with open(big, "r+b") as file:
        file.truncate(1537 << 20)
    assert LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(big)) != key
    with pytest.raises(BadInput, match=rf"is {1537 << 20} bytes; the limit for an image file is 268435456"):
        load(str(big))
    small = write_png(tmp_path / "small.png", 20, (9, 9, 9))
    assert LoadFace.IS_CHANGED(image=None, url_or_path_or_base64=str(small)) == hashlib.sha256(
        small.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["a" * 5000, "b" * 300 + ".png", "x\0.png", "sub/" * 1200 + "f.png"])
def test_an_impossible_name_is_refused_with_the_validation_message(comfy, name):
    assert not load_face._is_picked_file(name, comfy)
    with pytest.raises(BadInput, match="is not a file in the input folder: pick an image"):
        read_picked_image(name, comfy)
    assert LoadFace.VALIDATE_INPUTS(image=name).startswith(f"image {name[:40]!r}")
    assert LoadFace.IS_CHANGED(image=name).startswith("missing input file")


def test_the_image_widget_is_confined_to_comfyuis_folders(tmp_path, comfy):
    write_png(comfy.input / "face.png", 20, (0, 9, 0))
    write_png(comfy.output / "result.png", 21, (0, 9, 0))
    write_png(comfy.temp / "preview.png", 22, (0, 9, 0))
    secret = write_png(tmp_path / "secret.png", 23, (9, 0, 0))
    (comfy.input / "link_out.png").symlink_to(secret)
    (comfy.input / "link_in.png").symlink_to(comfy.output / "result.png")
    for name, width in (("face.png", 20), ("result.png [output]", 21), ("preview.png [temp]", 22),
                        ("face.png [input]", 20), ("link_in.png", 21)):
        assert read_picked_image(name, comfy).shape[1] == width and load_face._is_picked_file(name, comfy)
    for name in ("../secret.png", str(secret), "link_out.png", "../secret.png [output]", "input", "missing.png"):
        assert not load_face._is_picked_file(name, comfy), name
        with pytest.raises(BadInput, match="is not a file in the input folder"):
            read_picked_image(name, comfy)
    os.mkfifo(comfy.input / "pipe.png")  # opening it must not hang
    assert not load_face._is_picked_file("pipe.png", comfy)


@pytest.mark.parametrize("value", [None, "", "   ", os.pathsep, f" {os.pathsep}  "])
def test_an_unset_or_blank_folder_list_adds_no_folder(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)  # ComfyUI's root: what a blank entry would otherwise mean
    shutil.copyfile(FACES / "portrait_male_02.jpg", tmp_path / "face.jpg")
    if value is not None:
        monkeypatch.setenv(ENV_IMAGE_FOLDERS, value)
    assert allowed_image_folders() == []  # outside ComfyUI: its own folders are none
    for reference in ("face.jpg", "./face.jpg", str(tmp_path / "face.jpg")):
        with pytest.raises(BadInput, match="outside the folders Load Face reads"):
            load(reference)
    monkeypatch.setenv(ENV_IMAGE_FOLDERS, f" {tmp_path} {os.pathsep}")
    assert tuple(load("face.jpg")[0].shape) == (1, 418, 740, 3)


def test_a_listed_folders_image_loads_once_with_the_same_pixels(tmp_path, monkeypatch):
    photo = tmp_path / "face.jpg"
    shutil.copyfile(FACES / "portrait_male_02.jpg", photo)
    monkeypatch.setenv(ENV_IMAGE_FOLDERS, str(tmp_path))
    from faceswap_v3.pipeline.runtime.images import read_image_file

    (image,) = load(str(photo))
    assert np.array_equal((image[0].numpy() * 255).round().astype(np.uint8), read_image_file(photo))
