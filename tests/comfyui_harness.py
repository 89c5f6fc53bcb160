"""A real ComfyUI server with this pack installed, and its real web frontend in headless Chromium
driven by selenium. Used by the tests that run inside ComfyUI and by tools/build_workflows.py.

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

REPO = Path(__file__).resolve().parents[1]
PACK = "ComfyUI-Faceswap-V3"
MODEL_FOLDERS = ("facedetection", "insightface", "facerestore_models")


class Unavailable(RuntimeError):
    """ComfyUI or Chromium is not on this machine."""


def skip_or_fail(reason: str) -> None:
    """Skip a test that needs something this machine lacks; in CI, fail it."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: CI must run these tests, see .ci/run)")
    pytest.skip(reason)


def require(browser: bool = False) -> None:
    """Skip the calling test (in CI: fail it) unless ComfyUI, and with browser Chromium, are here."""
    try:
        comfyui_dir()
        if browser:
            chromium_paths()
    except Unavailable as missing:
        skip_or_fail(str(missing))


def comfyui_dir() -> Path:
    folder = os.environ.get("COMFYUI_DIR")
    if not folder:
        raise Unavailable("COMFYUI_DIR is not set: these tests need a ComfyUI checkout (see README, 'Developers')")
    if not (Path(folder) / "main.py").is_file():
        raise Unavailable(f"COMFYUI_DIR={folder} holds no ComfyUI main.py")
    return Path(folder)


def prepare_base(base: Path, models_root: Path | None = None, inputs: dict[str, Path] | None = None) -> Path:
    """A ComfyUI base directory (--base-directory) holding this pack in custom_nodes/, the model
    folders of models_root, and the given files in input/ ({name in input/: file to copy})."""
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
    settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}))
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
def comfyui_server(base: Path, env: dict | None = None, start_timeout: float = 120):
    """ComfyUI (COMFYUI_DIR, run by COMFYUI_PYTHON or this Python) headless on the CPU, on loopback,
    serving base; stopped on exit."""
    folder = comfyui_dir()
    port = free_port()
    log_path = base / "comfyui.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", "--cpu", "--listen", "127.0.0.1",
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
def comfyui_for_tests(base: Path, models_root: Path, start_api_server, browser: bool = False):
    """For a test module: (ComfyUI serving base with models_root's models and the test photos, the URL
    of our own API server for the remote node); skipped (in CI: failed) without ComfyUI/Chromium."""
    require(browser)
    prepare_base(base, models_root, TEST_INPUTS)
    api_key = "comfy-test-key"
    api_server = start_api_server(models_root, "--api-key", api_key)
    with comfyui_server(base, env={"SEGMIND_API_KEY": api_key}) as server:
        yield server, api_server


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


# JavaScript run in the page. `arguments` are selenium's; the last one is the async callback.
_ASYNC = """
const done = arguments[arguments.length - 1];
const args = Array.from(arguments).slice(0, -1);
(async (...args) => { %s })(...args).then(
    (value) => done({value: value === undefined ? null : value}),
    (error) => done({error: String(error && error.stack || error)}));
"""

_BUILD = """
const [description] = args;
const app = window.app, LiteGraph = window.LiteGraph;
app.graph.clear();
const made = {};
for (const spec of description.nodes) {
    const node = LiteGraph.createNode(spec.type);
    if (!node) throw new Error(`the frontend has no node type ${spec.type}`);
    if (spec.title) node.title = spec.title;
    node.pos = [...spec.pos];
    app.graph.add(node);
    for (const [name, value] of Object.entries(spec.widgets)) {
        const widget = (node.widgets || []).find((w) => w.name === name);
        if (!widget) throw new Error(`${spec.type} has no widget ${name}`);
        widget.value = value;
    }
    if (spec.size) node.size = [...spec.size];
    made[spec.key] = node;
}
for (const [fromKey, output, toKey, input] of description.links) {
    const from = made[fromKey], to = made[toKey];
    const slotOut = from.findOutputSlot(output), slotIn = to.findInputSlot(input);
    if (slotOut < 0) throw new Error(`${from.type} has no output ${output}`);
    if (slotIn < 0) throw new Error(`${to.type} has no input ${input}`);
    if (!from.connect(slotOut, to, slotIn)) throw new Error(`cannot link ${from.type}.${output} -> ${to.type}.${input}`);
}
"""

_FIT_VIEW = """
const app = window.app;
let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
for (const node of app.graph.nodes) {
    const [x, y, w, h] = node.boundingRect;
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
}
app.canvas.ds.fitToBounds([x0, y0, x1 - x0, y1 - y0], {zoom: 0.9});
app.canvas.setDirty(true, true);
return {scale: app.canvas.ds.scale, offset: [...app.canvas.ds.offset]};
"""


class Frontend:
    """ComfyUI's own web page in headless Chromium (a 1920x1080 window, as on a common desktop, so
    stored views fit such a screen); `app` and `LiteGraph` are the page's globals."""

    def __init__(self, url: str, width: int = 1920, height: int = 1080):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = chromium_paths()
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--force-device-scale-factor=1"):
            options.add_argument(flag)
        self.url = url
        self.driver = webdriver.Chrome(options=options, service=Service(driver))
        self.driver.set_script_timeout(120)
        self.open()

    def open(self) -> None:
        self.driver.get(self.url)
        deadline = time.monotonic() + 90
        ready = "return !!(window.app && window.app.graph && window.LiteGraph && window.app.canvas)"
        while not self.driver.execute_script(ready):
            if time.monotonic() > deadline:
                raise RuntimeError("ComfyUI's page did not start within 90 s")
            time.sleep(0.5)

    def run(self, body: str, *args):
        """Run an async JS function body in the page with `args`; return its JSON-able result."""
        answer = self.driver.execute_async_script(_ASYNC % body, *args)
        if "error" in answer:
            raise RuntimeError(f"in the page: {answer['error']}")
        return answer["value"]

    def build(self, description: dict) -> dict:
        """Create the described graph with the frontend's own LiteGraph API and fit the view to it;
        returns the canvas workflow as the frontend saves it (viewport included) and its API prompt."""
        self.run(_BUILD, description)
        view = self.run(_FIT_VIEW)
        result = self.graph_to_prompt()
        result["workflow"].setdefault("extra", {})["ds"] = view
        return result

    def graph_to_prompt(self) -> dict:
        """{"workflow": canvas format, "output": API format}, by the frontend's own conversion."""
        return self.run("return JSON.parse(JSON.stringify(await window.app.graphToPrompt()));")

    def load(self, workflow: dict) -> None:
        self.run("await window.app.loadGraphData(args[0], true, true, null);", workflow)

    def widget_values(self) -> dict:
        """{node id: {widget name: value}} of the loaded graph."""
        return self.run("""
            const values = {};
            for (const node of window.app.graph.nodes)
                values[node.id] = Object.fromEntries((node.widgets || []).map((w) => [w.name, w.value]));
            return values;""")

    def set_widgets(self, node_id: int, **values) -> None:
        self.run("""
            const [id, values] = args;
            const node = window.app.graph.getNodeById(id);
            for (const [name, value] of Object.entries(values)) {
                const widget = node.widgets.find((w) => w.name === name);
                if (!widget) throw new Error(`${node.type} has no widget ${name}`);
                widget.value = value;
            }""", node_id, values)

    def nodes(self) -> list[dict]:
        return self.run("""return window.app.graph.nodes.map((n) => (
            {id: n.id, type: n.type, title: n.title, widgets: (n.widgets || []).map((w) => w.name)}));""")

    def queue(self, server_url: str) -> tuple[str | None, dict | None]:
        """Press Run (app.queuePrompt): (the queued prompt's id, None), or (None, the node errors the
        server answered with)."""
        before = set(httpx.get(f"{server_url}/history", timeout=30).json())
        errors = self.run("""
            await window.app.queuePrompt(0, 1);
            const errors = window.app.lastNodeErrors;
            return errors && Object.keys(errors).length ? errors : null;""")
        if errors:
            return None, errors
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queue = httpx.get(f"{server_url}/queue", timeout=30).json()
            ids = {item[1] for item in queue["queue_running"] + queue["queue_pending"]}
            ids |= set(httpx.get(f"{server_url}/history", timeout=30).json())
            new = ids - before
            if new:
                return new.pop(), None
            time.sleep(0.1)
        raise TimeoutError("the frontend queued nothing")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run("window.app.canvas.setDirty(true, true); await new Promise(requestAnimationFrame);")
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        self.driver.quit()


def chromium_paths() -> tuple[str, str]:
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser or not driver:
        raise Unavailable("chromium and chromedriver are not installed (Debian: apt-get install chromium "
                          "chromium-driver)")
    return browser, driver


def dump_json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def build_examples(frontend: Frontend) -> dict[str, tuple[dict, dict]]:
    """{name: (canvas workflow, API prompt)} for every example of cli/example_workflows.py, as the
    real frontend builds, saves and converts them."""
    import uuid

    from faceswap_v3.cli.example_workflows import EXAMPLES

    built = {}
    for name, describe in EXAMPLES.items():
        result = frontend.build(describe().description())
        workflow = result["workflow"]
        workflow["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"faceswap-v3/workflows/{name}"))  # stable files
        built[name] = (workflow, result["output"])
    return built


# --- running the shipped templates on test inputs -------------------------------------------------

SHARED = Path(os.environ.get("FACESWAP_V3_SHARED", REPO.parent / "shared")).resolve()
SOURCE_PHOTO, TARGET_PHOTO = "group_2faces_women_7242.jpg", "couple_female_left_male_right.jpg"
INPUT_NAMES = {"source": "faceswap_v3_source.jpg", "target": "faceswap_v3_target.jpg"}
TEST_INPUTS = {INPUT_NAMES["source"]: SHARED / "fixtures" / "faces" / SOURCE_PHOTO,
               INPUT_NAMES["target"]: SHARED / "fixtures" / "faces" / TARGET_PHOTO}
PHOTO_LOADERS = ("FaceswapV3LoadFace", "LoadImage")


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
    process = subprocess.Popen(
        [sys.executable, "-m", "faceswap_v3", "serve", "--port", "0", "--models-dir", str(models_root),
         "--api-key", api_key], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "FACESWAP_V3_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        if "serving the Faceswap V3 API on " not in line:
            raise RuntimeError(f"the API server did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def point_at_test_inputs(frontend: Frontend, api_server_url: str) -> None:
    """Through the page's widgets: every photo loader gets a test photo (source for the node titled
    "Source...", target otherwise), detectors the real small detector these machines have, restorers
    the quicker stand-in, the remote node our own API server."""
    for node in frontend.nodes():
        names, values = set(node["widgets"]), {}
        if node["type"] in PHOTO_LOADERS:
            values["image"] = INPUT_NAMES["source" if node["title"].startswith("Source") else "target"]
        if "facedetection" in names:
            values["facedetection"] = "retinaface_mobile0.25"
        if "face_restore" in names:
            values["face_restore"] = "GFPGANv1.4.pth"
        if "base_url" in names:
            values.update(base_url=api_server_url, storage_url=api_server_url)
        if values:
            frontend.set_widgets(node["id"], **values)


def run_in_frontend(frontend: Frontend, server: ComfyServer) -> list[Path]:
    """Press Run, wait for the prompt in /history; the files the SaveImage nodes wrote."""
    prompt_id, node_errors = frontend.queue(server.url)
    if prompt_id is None:
        raise AssertionError(f"the server refused the prompt: {node_errors}")
    entry = wait_for_history(server.url, prompt_id)
    if entry["status"]["status_str"] != "success":
        raise AssertionError(f"the prompt failed: {execution_errors(entry)}")
    return [server.base / "output" / image["subfolder"] / image["filename"]
            for output in entry["outputs"].values() for image in output.get("images", [])
            if image["type"] == "output"]
