"""python -m faceswap_v3 detect: faces in the API's order as text or one JSON object; exit 2 on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from PIL import Image

from devices import torch_device_pattern
from support import FACES


def detect(*args: str, models_root=None) -> subprocess.CompletedProcess:
    extra = ["--models-dir", str(models_root)] if models_root else []
    return subprocess.run([sys.executable, "-m", "faceswap_v3", "detect", *args, *extra],
                          capture_output=True, text=True, timeout=180)


def test_json_lists_every_face_in_the_requested_order(models_root):
    result = detect(str(FACES / "couple_female_left_male_right.jpg"), "--facedetection", "retinaface_mobile0.25",
                    "--detection-face-order", "left-right", "--json", models_root=models_root)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"faces", "image"}
    assert payload["image"] == {"width": 2280, "height": 1588}
    faces = payload["faces"]
    assert [f["index"] for f in faces] == [0, 1]
    assert faces[0]["box"][0] < faces[1]["box"][0]
    for face in faces:
        assert set(face) == {"index", "box", "score", "landmarks", "gender", "age"}
        assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and 0.8 < face["score"] <= 1
        assert face["gender"] is None and face["age"] is None


def test_gender_filter_and_faces_index_with_preview(models_root, tmp_path):
    preview = tmp_path / "preview.png"
    result = detect(str(FACES / "group_6faces_t1.jpg"), "--facedetection", "scrfd_2.5g_bnkps.onnx",
                    "--detection-face-order", "left-right", "--detect-gender", "male", "--faces-index", "2,0",
                    "--json", "--preview", str(preview), models_root=models_root)
    assert result.returncode == 0, result.stderr
    faces = json.loads(result.stdout)["faces"]
    assert [f["index"] for f in faces] == [2, 0]
    assert [f["gender"] for f in faces] == ["M", "M"]
    assert faces[0]["box"][0] > faces[1]["box"][0]
    assert all(isinstance(f["age"], int) for f in faces)
    with Image.open(preview) as img:
        assert img.size == (1280, 886)


def test_human_readable_output(models_root):
    result = detect(str(FACES / "two_men.jpg"), "--facedetection", "retinaface_mobile0.25", models_root=models_root)
    assert result.returncode == 0, result.stderr
    assert re.match(rf"2 face\(s\) in 1126x661 \(retinaface_mobile0\.25: torch:{torch_device_pattern()}\)\n",
                    result.stdout), result.stdout
    assert "[1] box=" in result.stdout


def test_bad_input_exits_2_with_one_line_and_no_traceback(models_root, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really")
    cases = [
        (str(broken), "--facedetection", "retinaface_mobile0.25"),
        (str(tmp_path / "missing.jpg"),),
        (str(FACES / "two_men.jpg"), "--detection-face-order", "biggest"),
        (str(FACES / "two_men.jpg"), "--facedetection", "retinaface_mobile0.25", "--faces-index", "1.5"),
        (str(FACES / "two_men.jpg"), "--facedetection", "mtcnn"),
    ]
    for args in cases:
        result = detect(*args, models_root=models_root)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stdout == ""


def test_missing_model_offline_exits_1_naming_the_file(tmp_path):
    result = detect(str(FACES / "two_men.jpg"), models_root=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: model file detection_Resnet50_Final.pth not found (looked in: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_preview_must_be_a_png_in_an_existing_folder_and_never_replaces_the_image(models_root, tmp_path, capsys):
    import shutil

    from faceswap_v3.cli.main import main

    image = tmp_path / "photo.png"
    shutil.copyfile(FACES / "portrait_female_handonchin.png", image)
    original = image.read_bytes()
    common = [str(image), "--models-dir", str(models_root), "--facedetection", "retinaface_mobile0.25"]
    for preview, start in ((tmp_path / "p.jpg", "error: --preview p.jpg: the preview is a PNG; name it .png"),
                           (tmp_path / "none" / "p.png", f"error: output folder {tmp_path / 'none'} does not exist")):
        assert main(["detect", *common, "--preview", str(preview)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(start) and len(err.strip().splitlines()) == 1, err
    assert main(["detect", *common, "--preview", str(image)]) == 0  # the preview replaces it only when complete
    with Image.open(image) as img:
        assert img.format == "PNG" and image.read_bytes() != original
    assert [p.name for p in tmp_path.iterdir()] == ["photo.png"]
