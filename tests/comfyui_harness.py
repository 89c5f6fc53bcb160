"""A real ComfyUI server with this pack installed, the test photos and stand-in models, for the tests
that run inside ComfyUI and for tools/build_workflows.py (its web page: comfyui_frontend.py).

In CI (CI=true) a missing ComfyUI or Chromium fails the tests instead of skipping them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cluster_processes import popen

REPO = Path(__file__).resolve().parents[1]
PACK = "ComfyUI-Faceswap-V3"
MODEL_FOLDERS = ("facedetection", "insightface", "facerestore_models")
SHARED = Path(os.environ.get("FACESWAP_V3_SHARED", REPO.parent / "shared")).resolve()
SOURCE_PHOTO, TARGET_PHOTO = "group_2faces_women_7242.jpg", "couple_female_left_male_right.jpg"
INPUT_NAMES = {"source": "faceswap_v3_source.jpg", "target": "faceswap_v3_target.jpg",
               "video": "faceswap_v3_frames.mp4"}
TEST_INPUTS = {INPUT_NAMES["source"]: SHARED / "fixtures" / "faces" / SOURCE_PHOTO,
               INPUT_NAMES["target"]: SHARED / "fixtures" / "faces" / TARGET_PHOTO}
PHOTO_LOADERS = ("FaceswapV3LoadFace", "LoadImage")
VIDEO_FRAMES = 3


def write_test_video(path: Path) -> None:
    """VIDEO_FRAMES frames of the target photo (halved, moving 8 px a frame) as an MPEG-4 video, as Load Video
    reads it."""
    import cv2
    import numpy as np

    photo = cv2.imread(str(TEST_INPUTS[INPUT_NAMES["target"]]))
    height, width = (photo.shape[0] // 4) * 2, (photo.shape[1] // 4) * 2
    photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8, (width, height))
    for k in range(VIDEO_FRAMES):
        writer.write(np.ascontiguousarray(np.roll(photo, 8 * k, axis=1)))
    writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"OpenCV wrote no video at {path}")


def video_frames(path: Path) -> list:
    """The frames of a video as RGB uint8 arrays."""
    import cv2

    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


class Unavailable(RuntimeError):
    """ComfyUI or Chromium is not on this machine."""


def skip_or_fail(reason: str) -> None:
    """Skip a test that needs something this machine lacks; in CI, fail it."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: CI must run these tests, see .ci/run)")
    pytest.skip(reason)


@dataclass(frozen=True)
class ComfyEnv:
    """One ComfyUI to test in: its source folder, the Python that runs it, and for the web page the node
    renderer ("classic" canvas or "vue", the Nodes 2.0 renderer of newer frontends)."""
    name: str
    folder: Path
    python: str
    renderer: str = "classic"

    @property
    def id(self) -> str:
        return self.name if self.renderer == "classic" else f"{self.name}-{self.renderer}"


def environments(browser: bool = False) -> list[ComfyEnv | None]:
    """The ComfyUIs to run in: COMFYUI_ENVS (a JSON file .ci/run writes: [{"name", "dir", "python",
    "renderers"}]), else the one of COMFYUI_DIR/COMFYUI_PYTHON; [None] when neither is set (the tests
    then skip, or fail in CI). Browser tests get one environment per renderer."""
    listing = os.environ.get("COMFYUI_ENVS")
    if listing:
        found = []
        for entry in json.loads(Path(listing).read_text()):
            renderers = entry.get("renderers", ["classic"]) if browser else ["classic"]
            found += [ComfyEnv(entry["name"], Path(entry["dir"]), entry["python"], r) for r in renderers]
        return found
    if os.environ.get("COMFYUI_DIR"):
        return [ComfyEnv("comfyui", Path(os.environ["COMFYUI_DIR"]), os.environ.get("COMFYUI_PYTHON", sys.executable))]
    return [None]


def environment_ids(browser: bool = False) -> list[str]:
    return [env.id if env else "no-comfyui" for env in environments(browser)]


def default_environment() -> ComfyEnv:
    """The first environment (tools/build_workflows.py builds in it); Unavailable when none is set."""
    env = environments()[0]
    if env is None:
        raise Unavailable("COMFYUI_DIR is not set: these tests need a ComfyUI checkout (see docs/development.md, 'Developers')")
    return env


def require(comfy_env: ComfyEnv | None, browser: bool = False) -> ComfyEnv:
    """comfy_env, checked; skips the calling test (in CI: fails it) unless ComfyUI, and with browser
    Chromium, are here."""
    try:
        if comfy_env is None:
            raise Unavailable("neither COMFYUI_ENVS nor COMFYUI_DIR is set: these tests need a ComfyUI checkout "
                              "(see docs/development.md, 'Developers')")
        if not (comfy_env.folder / "main.py").is_file():
            raise Unavailable(f"{comfy_env.folder} holds no ComfyUI main.py")
        if browser:
            chromium_paths()
    except Unavailable as missing:
        skip_or_fail(str(missing))
    return comfy_env


def prepare_base(base: Path, models_root: Path | None = None, inputs: dict[str, Path] | None = None,
                 renderer: str = "classic") -> Path:
    """A ComfyUI base directory (--base-directory) holding this pack in custom_nodes/, the model
    folders of models_root, the given files in input/ ({name in input/: file to copy}) and the web
    page's node renderer ("vue": Nodes 2.0, setting Comfy.VueNodes.Enabled)."""
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / PACK).symlink_to(REPO, target_is_directory=True)
    (base / "models").mkdir()
    for sub in MODEL_FOLDERS if models_root else ():
        if (models_root / sub).exists():
            (base / "models" / sub).symlink_to((models_root / sub).resolve(), target_is_directory=True)
    (base / "input").mkdir()
    # a returning user's settings: no first-run template browser over the canvas
    settings = base / "user" / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False,
                                    "Comfy.VueNodes.Enabled": renderer == "vue"}))
    for name, source in (inputs or {}).items():
        shutil.copyfile(source, base / "input" / name)
    return base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ComfyServer:
    url: str
    base: Path
    log: Path
    process: subprocess.Popen


@contextmanager
def comfyui_server(comfy_env: ComfyEnv, base: Path, env: dict | None = None, start_timeout: float = 120):
    """ComfyUI (comfy_env) headless on the CPU, on loopback, serving base; stopped on exit."""
    folder = comfy_env.folder
    port = free_port()
    log_path = base / "comfyui.log"
    with open(log_path, "w") as log:
        process = popen(
            [comfy_env.python, "main.py", "--cpu", "--listen", "127.0.0.1",
             "--port", str(port), "--base-directory", str(base), "--disable-auto-launch",
             "--database-url", "sqlite:///:memory:"],
            cwd=folder, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "FACESWAP_V3_OFFLINE": "1", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{url}/object_info", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("ComfyUI exited:\n" + log_path.read_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"ComfyUI did not answer within {start_timeout:.0f} s:\n"
                                   + log_path.read_text()[-3000:])
            time.sleep(1)
        yield ComfyServer(url, base, log_path, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def comfyui_for_tests(comfy_env: ComfyEnv | None, base: Path, models_root: Path, start_api_server,
                      browser: bool = False):
    """For a test module: (ComfyUI comfy_env serving base with models_root's models and the test photos,
    the URL of our own API server for the remote node); skipped (in CI: failed) without ComfyUI/Chromium."""
    comfy_env = require(comfy_env, browser)
    prepare_base(base, models_root, TEST_INPUTS, comfy_env.renderer)
    write_test_video(base / "input" / INPUT_NAMES["video"])
    api_key = "comfy-test-key"
    api_server = start_api_server(models_root, "--api-key", api_key)
    with comfyui_server(comfy_env, base, env=remote_node_env(api_key)) as server:
        yield server, api_server


def remote_node_env(api_key: str) -> dict:
    """ComfyUI's environment for the remote node to reach our local API server with the environment's
    key (which otherwise goes to Segmind's own addresses only)."""
    return {"SEGMIND_API_KEY": api_key, "SEGMIND_ALLOW_CUSTOM_BASE_URL": "1"}


def wait_for_history(url: str, prompt_id: str, timeout: float = 180) -> dict:
    """ComfyUI's /history entry of a prompt once it has finished (successfully or not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = httpx.get(f"{url}/history/{prompt_id}", timeout=30).json()
        if prompt_id in history:
            return history[prompt_id]
        time.sleep(0.25)
    raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f} s")


def execution_errors(entry: dict) -> list[dict]:
    return [m[1] for m in entry["status"].get("messages", []) if m[0] == "execution_error"]


def chromium_paths() -> tuple[str, str]:
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not (browser and driver and Path(browser).is_file() and Path(driver).is_file()):
        raise Unavailable("chromium and chromedriver are not installed (Debian: apt-get install chromium "
                          "chromium-driver)")
    return browser, driver


def standin_models(root: Path) -> Path:
    """A models root for running templates here: the real RetinaFace MobileNet detector and
    gender/age model, and stand-ins (exact interfaces, no quality) for the swapper, ArcFace and the
    restorers."""
    import standins

    detector = root / "facedetection" / "detection_mobilenet0.25_Final.pth"
    detector.parent.mkdir(parents=True)
    shutil.copyfile(SHARED / "models" / "detection_mobilenet0.25_Final.pth", detector)
    buffalo = root / "insightface" / "models" / "buffalo_l"
    buffalo.mkdir(parents=True)
    shutil.copyfile(SHARED / "models" / "genderage_2018_wrapped.onnx", buffalo / "genderage.onnx")
    standins.arcface(buffalo / "w600k_r50.onnx")
    standins.inswapper(root / "insightface" / "inswapper_128.onnx", "identity")
    for name, architecture in (("GFPGANv1.4.pth", "GFPGAN"), ("codeformer-v0.1.0.pth", "CodeFormer")):
        standins.restorer_checkpoint(root / "facerestore_models" / name, architecture)
    return root


@contextmanager
def faceswap_api_server(models_root: Path, api_key: str):
    """Our own Faceswap V3 API server (`python -m faceswap_v3 serve`) on loopback, for the remote node."""
    process = popen(
        [sys.executable, "-m", "faceswap_v3", "serve", "--port", "0", "--models-dir", str(models_root),
         "--api-key", api_key, "--no-content-check"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "FACESWAP_V3_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        if "serving the Faceswap V3 API on " not in line:
            raise RuntimeError(f"the API server did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)
