"""python -m faceswap_v3 swap: every API parameter a flag; the output in the API's format."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from support import FACES
from faceswap_v3.pipeline.runtime.images import decode_image, read_image_file


def swap(models_root, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceswap_v3", "swap", "--models-dir", str(models_root), *args],
                          capture_output=True, text=True, timeout=180)


def test_swap_writes_the_requested_format(swap_root, tmp_path):
    out = tmp_path / "out.png"
    target = FACES / "couple_female_left_male_right.jpg"
    result = swap(swap_root, "--source", str(FACES / "portrait_male_damon.jpg"), "--target", str(target),
                  "-o", str(out), "--swap-model", "solid_green.onnx", "--facedetection", "scrfd_2.5g_bnkps.onnx",
                  "--face-restore-weight", "0", "--detect-gender-input", "male", "--image-format", "png")
    assert result.returncode == 0, result.stderr
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (2280, 1588)
    swapped, original = read_image_file(out), read_image_file(target)
    changed = (swapped != original).any(axis=2)
    assert changed[:, 1140:].mean() > 0.01 and changed[:, :1000].mean() == 0.0  # the man, on the right


def test_swap_base64_and_quality(swap_root, tmp_path):
    out = tmp_path / "out.json"
    result = swap(swap_root, "--source", str(FACES / "portrait_female_02.jpg"),
                  "--target", str(FACES / "portrait_male_02.jpg"), "-o", str(out),
                  "--facedetection", "scrfd_2.5g_bnkps.onnx", "--face-restore-weight", "0",
                  "--image-format", "webp", "--image-quality", "30", "--base64")
    assert result.returncode == 0, result.stderr
    data = base64.b64decode(json.loads(out.read_text())["image"])
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert decode_image(data).shape == (418, 740, 3)


def test_swap_bad_input_exits_2_with_one_line(swap_root, tmp_path):
    common = ["-o", str(tmp_path / "x.jpg"), "--facedetection", "scrfd_2.5g_bnkps.onnx", "--face-restore-weight", "0"]
    cases = [
        (["--source", str(FACES / "noface_landscape.jpg"), "--target", str(FACES / "two_men.jpg")],
         "error: no face found in the source image"),
        (["--source", str(FACES / "two_men.jpg"), "--target", str(FACES / "two_men.jpg"), "--image-quality", "5"],
         "error: image_quality must be a whole number from 10 to 100, got 5"),
        (["--source", str(FACES / "two_men.jpg"), "--target", str(FACES / "two_men.jpg"),
          "--source-faces-index", "0,1", "--input-faces-index", "0,1,2"],
         "error: source_faces_index has 2 indexes and input_faces_index has 3"),
        (["--source", str(FACES / "two_men.jpg"), "--target", str(FACES / "two_men.jpg"), "--interpolation", "Area"],
         "python -m faceswap_v3 swap: error: argument --interpolation"),
    ]
    for args, start in cases:
        result = swap(swap_root, *args, *common)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(start), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.jpg").exists()


def test_swap_target_without_face_is_written_unchanged_with_a_warning(swap_root, tmp_path):
    out = tmp_path / "same.png"
    result = swap(swap_root, "--source", str(FACES / "two_men.jpg"), "--target", str(FACES / "noface_landscape.jpg"),
                  "-o", str(out), "--facedetection", "scrfd_2.5g_bnkps.onnx", "--face-restore-weight", "0",
                  "--image-format", "png")
    assert result.returncode == 0, result.stderr
    assert "warning: target has no face after filtering" in result.stdout
    assert np.array_equal(read_image_file(out), read_image_file(FACES / "noface_landscape.jpg"))


def test_a_bad_output_is_refused_before_any_work_with_one_line(swap_root, tmp_path, capsys):
    """The source has no face: had the swap run first, the error would be about that."""
    from faceswap_v3.cli.main import main

    (tmp_path / "out.png").write_bytes(b"keep me")
    cases = [
        (["-o", str(tmp_path / "missing" / "x.jpg")], f"error: output folder {tmp_path / 'missing'} does not exist"),
        (["-o", str(tmp_path)], f"error: -o {tmp_path} is a folder"),
        (["-o", str(tmp_path / "out.png"), "--image-format", "jpeg"],
         "error: -o out.png names a png file but --image-format is jpeg; make them agree"),
        (["-o", str(tmp_path / "out.txt")], "error: -o out.txt: cannot tell the image format from .txt"),
        (["-o", str(tmp_path / "out"), "--image-format", "png"], "error: -o out: cannot tell the image format"),
        (["-o", str(tmp_path / "out.png"), "--base64"], "error: -o out.png: with --base64 the output is JSON"),
    ]
    for output, start in cases:
        code = main(["swap", "--models-dir", str(swap_root), "--source", str(FACES / "noface_landscape.jpg"),
                     "--target", str(FACES / "two_men.jpg"), "--facedetection", "scrfd_2.5g_bnkps.onnx", *output])
        err = capsys.readouterr().err
        assert code == 2, (output, err)
        assert err.startswith(start) and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert (tmp_path / "out.png").read_bytes() == b"keep me"


def test_the_extension_decides_the_format_and_the_target_may_be_overwritten(swap_root, tmp_path):
    """-o equal to the target: replaced by the result only once it is complete; nothing else is left."""
    target = tmp_path / "target.png"
    shutil.copyfile(FACES / "portrait_female_handonchin.png", target)
    original = target.read_bytes()
    args = ["--source", str(FACES / "portrait_male_damon.jpg"), "--target", str(target), "-o", str(target),
            "--swap-model", "solid_green.onnx", "--facedetection", "scrfd_2.5g_bnkps.onnx",
            "--face-restore-weight", "0"]
    result = swap(swap_root, *args)
    assert result.returncode == 0, result.stderr
    with Image.open(target) as img:
        assert img.format == "PNG"
    assert target.read_bytes() != original
    assert (read_image_file(target) == [0, 255, 0]).all(axis=2).any()  # the solid green stand-in face
    assert [p.name for p in tmp_path.iterdir()] == ["target.png"]


def test_a_full_disk_leaves_the_target_intact(swap_root, tmp_path):
    """A file-size limit below the result's size makes the write fail as a full disk would."""
    import resource
    import signal

    target = tmp_path / "target.png"
    shutil.copyfile(FACES / "portrait_female_handonchin.png", target)
    original = target.read_bytes()

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    result = subprocess.run(
        [sys.executable, "-m", "faceswap_v3", "swap", "--models-dir", str(swap_root),
         "--source", str(FACES / "portrait_male_damon.jpg"), "--target", str(target), "-o", str(target),
         "--facedetection", "scrfd_2.5g_bnkps.onnx", "--face-restore-weight", "0"],
        capture_output=True, text=True, timeout=180, preexec_fn=limit_file_size)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after onnxruntime's own warnings about the stand-in
    assert last == f"error: could not write {target}: File too large; it was left as it was"
    assert target.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["target.png"]
def test_swap_pixel_boost_and_a_mask_image(swap_root, tmp_path):
    target = FACES / "couple_female_left_male_right.jpg"
    original = read_image_file(target)
    mask = np.zeros(original.shape[:2], np.uint8)
    mask[:, 1140:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    common = ["--source", str(FACES / "portrait_male_damon.jpg"), "--target", str(target), "--swap-model",
              "solid_green.onnx", "--facedetection", "scrfd_2.5g_bnkps.onnx", "--face-restore-weight", "0",
              "--input-faces-index", "0,1", "--image-format", "png"]
    result = swap(swap_root, *common, "-o", str(out), "--pixel-boost", "512x512", "--mask", str(tmp_path / "mask.png"),
                  "--face-mask-padding", "0,0,5,0")
    assert result.returncode == 0, result.stderr
    changed = (read_image_file(out) != original).any(axis=2)
    assert changed[:, 1140:].mean() > 0.01 and not changed[:, :1140].any()
    Image.fromarray(mask[:100]).save(tmp_path / "small.png")
    result = swap(swap_root, *common, "-o", str(tmp_path / "x.png"), "--mask", str(tmp_path / "small.png"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: mask is 2280x100 but the image is 2280x1588; refused, not resized")


def test_measure_similarity_flag_prints_the_score_and_a_bad_thread_setting_exits_2_naming_it(swap_root, tmp_path,
                                                                                             monkeypatch):
    args = ["--source", str(FACES / "portrait_female_02.jpg"), "--target", str(FACES / "portrait_male_02.jpg"),
            "-o", str(tmp_path / "out.png"), "--facedetection", "scrfd_2.5g_bnkps.onnx", "--face-restore-weight", "0"]
    plain, measured = swap(swap_root, *args), swap(swap_root, *args, "--measure-similarity")
    assert plain.returncode == measured.returncode == 0, plain.stderr + measured.stderr
    assert "face similarity" not in plain.stdout
    assert [line for line in measured.stdout.splitlines() if line.startswith("face similarity: ")]
    monkeypatch.setenv("FACESWAP_V3_INTRA_OP_THREADS", "0")
    refused = swap(swap_root, *args)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith(
        "error: FACESWAP_V3_INTRA_OP_THREADS must be a whole number from 1 to ")
