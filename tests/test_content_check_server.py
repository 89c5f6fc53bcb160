"""The content check in the server and the CLI: a flagged source or target ends FAILED/422 with reason
content_blocked before any swap, the result is checked after the swap, the server does not start without a
classifier unless told --no-content-check (and logs that), and a broken classifier model stops the start."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import httpx
import numpy as np
import pytest
from PIL import Image

import standins
from cluster_processes import popen
from server_harness import b64, running, stand_in_engine
from support import FACES
from test_server_guards import make_server, wait_finished
from faceswap_v3.pipeline.content_check import load_check
from faceswap_v3.pipeline.models.store import ModelStore

KEY = "content-key-7a1"


def jpeg(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=95)
    return out.getvalue()


MARKER = jpeg(np.full((240, 320, 3), (255, 0, 255), np.uint8))
PORTRAIT = (FACES / "portrait_female_02.jpg").read_bytes()


class CountingEngine:
    """The stand-in engine, counting its calls; answer: what it returns instead of the target (the output
    check's test)."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.calls, self.answer = 0, answer

    def __call__(self, job):
        self.calls += 1
        return (self.answer, []) if self.answer is not None else stand_in_engine(job)


@pytest.fixture(scope="module")
def check(swap_root):
    return load_check("facefusion", ModelStore(models_root=swap_root, allow_download=False))


def body(source: bytes, target: bytes) -> dict:
    return {"source_img": b64(source), "target_img": b64(target), "image_format": "png", "face_restore_weight": 0,
            "facedetection": "scrfd_2.5g_bnkps.onnx"}


@pytest.mark.parametrize("source, target, what", [(PORTRAIT, MARKER, "target_img"), (MARKER, PORTRAIT, "source_img")])
def test_a_flagged_input_fails_with_content_blocked_and_runs_no_swap(swap_root, check, source, target, what):
    engine = CountingEngine()
    with running(make_server(swap_root, engine=engine, content_check=check)) as base:
        sync = httpx.post(f"{base}/v1/faceswap-v3", json=body(source, target), timeout=60)
        job = httpx.post(f"{base}/v2/faceswap-v3", json=body(source, target), timeout=60).json()
        done = wait_finished(base, job["request_id"], timeout_s=60)
        status = httpx.get(job["status_url"])
    assert sync.status_code == 422 and sync.json()["reason"] == "content_blocked" and what in sync.json()["error"]
    assert done.status_code == 422 and done.json()["status"] == "FAILED" and done.json()["reason"] == "content_blocked"
    assert status.status_code == 422 and status.json()["reason"] == "content_blocked"
    assert engine.calls == 0


def test_the_result_is_checked_after_the_swap(swap_root, check):
    engine = CountingEngine(answer=MARKER)
    with running(make_server(swap_root, engine=engine, content_check=check)) as base:
        answer = httpx.post(f"{base}/v1/faceswap-v3", json=body(PORTRAIT, PORTRAIT), timeout=60)
    assert answer.status_code == 422 and answer.json()["reason"] == "content_blocked"
    assert "the result" in answer.json()["error"] and engine.calls == 1


def test_safe_photos_pass_the_check(swap_root, check):
    engine = CountingEngine()
    with running(make_server(swap_root, engine=engine, content_check=check)) as base:
        answer = httpx.post(f"{base}/v1/faceswap-v3", json=body(PORTRAIT, (FACES / "two_men.jpg").read_bytes()),
                            timeout=60)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png" and engine.calls == 1


def serve(models_root, *args: str, data_dir) -> subprocess.Popen:
    env = {**os.environ, "FACESWAP_V3_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return popen([sys.executable, "-m", "faceswap_v3", "serve", "--port", "0", "--models-dir",
                  str(models_root), "--data-dir", str(data_dir), *args],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def refused(models_root, tmp_path, *args: str) -> str:
    process = serve(models_root, *args, data_dir=tmp_path / "data")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2 and "serving" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_the_server_refuses_to_start_without_its_classifier_and_names_the_file(tmp_path, models_root):
    empty = tmp_path / "models"
    (empty / "content_analyser").mkdir(parents=True)
    assert "nsfw_1.onnx" in refused(empty, tmp_path, "--content-check", "facefusion")
    standins.content_analysers(empty / "content_analyser")
    (empty / "content_analyser" / "nsfw_3.onnx").write_bytes(b"\x00" * 64)
    line = refused(empty, tmp_path, "--content-check", "facefusion")
    assert "nsfw_3.onnx" in line and "could not be loaded" in line


def test_the_server_starts_without_a_check_only_when_told_and_logs_it(tmp_path, swap_root):
    process = serve(swap_root, "--no-content-check", data_dir=tmp_path / "data")
    try:
        assert "serving the Faceswap V3 API on " in process.stdout.readline()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "content check OFF (--no-content-check)" in err


def test_the_server_starts_with_the_facefusion_analysers_and_logs_which(tmp_path, swap_root):
    process = serve(swap_root, "--content-check", "facefusion", data_dir=tmp_path / "data")
    try:
        assert "serving the Faceswap V3 API on " in process.stdout.readline()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "content check: facefusion nsfw_1/2/3" in err


def test_the_cli_refuses_a_flagged_target_with_exit_status_3_and_writes_nothing(tmp_path, swap_root):
    marker = tmp_path / "marker.jpg"
    marker.write_bytes(MARKER)
    out = tmp_path / "out.png"
    result = subprocess.run([sys.executable, "-m", "faceswap_v3", "swap", "--models-dir", str(swap_root),
                             "--content-check", "facefusion", "--source", str(FACES / "portrait_male_01.jpg"),
                             "--target", str(marker), "-o", str(out), "--face-restore-weight", "0",
                             "--facedetection", "scrfd_2.5g_bnkps.onnx"],
                            capture_output=True, text=True, timeout=180, env={**os.environ, "FACESWAP_V3_OFFLINE": "1"})
    assert result.returncode == 3 and "content_blocked" in result.stderr and "the target image" in result.stderr
    assert not out.exists()


HIDE_NUDENET = """
import runpy, sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'nudenet':
            raise ImportError('not installed here: ' + name)
sys.meta_path.insert(0, Hide())
sys.argv = ['faceswap_v3'] + sys.argv[1:]
runpy.run_module('faceswap_v3', run_name='__main__')
"""


def test_by_default_no_installed_classifier_means_no_server_and_no_cli_swap(tmp_path):
    """The default --content-check auto, on a machine with neither nudenet nor FaceFusion's analysers."""
    empty = tmp_path / "models"
    empty.mkdir()
    env = {**os.environ, "FACESWAP_V3_OFFLINE": "1"}
    out = tmp_path / "out.png"
    for command, words in ((["serve", "--port", "0", "--data-dir", str(tmp_path / "data")],
                            "cannot start without a content classifier"),
                           (["swap", "--source", str(FACES / "portrait_male_01.jpg"), "--target",
                             str(FACES / "portrait_male_01.jpg"), "-o", str(out)], "no content classifier is installed")):
        done = subprocess.run([sys.executable, "-c", HIDE_NUDENET, *command, "--models-dir", str(empty)],
                              capture_output=True, text=True, timeout=120, env=env)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and "serving" not in done.stdout, done.stderr
        assert words in lines[0] and "pip install nudenet" in lines[0] and "--no-content-check" in lines[0]
    assert not out.exists()
