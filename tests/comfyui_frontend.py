"""ComfyUI's real web frontend in headless Chromium, driven by selenium: build, load, convert and run
workflows with the page's own code (`app`, `LiteGraph`)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from comfyui_harness import (INPUT_NAMES, PHOTO_LOADERS, ComfyServer, chromium_paths, execution_errors,
                             wait_for_history)


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
// a link may make frontend 1.27 measure its node again (sometimes 212 px taller, mid-load): sizes go last
for (const spec of description.nodes) if (spec.size) made[spec.key].size = [...spec.size];
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
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, for console_errors()
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

    def console_errors(self, url_part: str) -> list[str]:
        """Console errors logged since the last call whose text names url_part (a script's address)."""
        return [entry["message"] for entry in self.driver.get_log("browser")
                if entry["level"] == "SEVERE" and url_part in entry["message"]]

    def severe_console_entries(self) -> list[str]:
        """Every console error (failed requests included: a 404 is logged as one) since the last call, but the
        page's own look-ups of internet addresses (release notes, model links), which fail on machines
        without internet whatever is loaded."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"
                and not (entry["message"].startswith("https://") and "net::ERR_NAME_NOT_RESOLVED" in entry["message"])]

    def vue_nodes(self) -> bool:
        """Whether the page draws nodes with the Vue renderer (Nodes 2.0): one DOM element per node."""
        return self.run("return !!document.querySelector('[data-node-id]');")

    def node_rects(self) -> dict[str, dict]:
        """{node id: {"type", "title", "rect": [x, y, w, h]}} as drawn, title bar included: the Vue renderer's
        DOM boxes (in page pixels) once every node has one, else the canvas renderer's bounding rects (in graph
        units)."""
        return self.run("""
            const app = window.app, rects = {};
            const vue = !!document.querySelector('[data-node-id]');
            for (let tries = 0; vue && tries < 50; tries++) {
                if (app.graph.nodes.every((n) => document.querySelector(`[data-node-id="${n.id}"]`))) break;
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
            await new Promise(requestAnimationFrame);
            for (const node of app.graph.nodes) {
                let rect = [...node.boundingRect];
                const element = vue && document.querySelector(`[data-node-id="${node.id}"]`);
                if (element) {
                    const box = element.getBoundingClientRect();
                    rect = [box.x, box.y, box.width, box.height];
                }
                rects[node.id] = {type: node.type, title: node.title, rect};
            }
            return rects;""")

    def shown_characters(self, node_id: int, widget: str) -> dict:
        """The Vue renderer's value box of a widget: its text and how many of its characters fit (all of them
        when the box does not cut it)."""
        return self.run("""
            const [id, name] = args;
            const row = document.querySelector(`[data-node-id="${id}"] [data-widget-name="${name}"]`);
            if (!row) throw new Error(`node ${id} shows no widget ${name}`);
            const label = row.querySelector('[data-testid="widget-layout-field-label"]');
            const candidates = [...row.querySelectorAll("span, input")].filter(
                (e) => !label?.contains(e) && (e.value || e.innerText || "").trim());
            const box = candidates.find((e) => e.classList.contains("truncate")) ?? candidates[0];
            if (!box) throw new Error(`widget ${name} of node ${id} shows no value`);
            const text = (box.value ?? box.innerText).trim();
            const full = box.scrollWidth, shown = box.clientWidth;
            return {text, full, shown,
                    characters: full <= shown ? text.length : Math.max(0, Math.floor(text.length * shown / full) - 1)};""",
                        node_id, widget)

    def canvas_png(self) -> bytes:
        """The graph's canvas alone, as a PNG (no menus or side bars)."""
        from selenium.webdriver.common.by import By

        self.run("window.app.canvas.setDirty(true, true); await new Promise(requestAnimationFrame);")
        return self.driver.find_element(By.CSS_SELECTOR, "canvas#graph-canvas").screenshot_as_png

    def close(self) -> None:
        self.driver.quit()


def build_examples(frontend: Frontend) -> dict[str, tuple[dict, dict]]:
    """{name: (canvas workflow, API prompt)} for every example of tools/example_workflows.py, as the
    real frontend builds, saves and converts them."""
    import uuid

    from example_workflows import EXAMPLES

    built = {}
    for name, describe in EXAMPLES.items():
        result = frontend.build(describe().description())
        workflow = result["workflow"]
        workflow["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"faceswap-v3/workflows/{name}"))  # stable files
        name_no_photo(workflow, result["output"])
        built[name] = (workflow, result["output"])
    return built


def name_no_photo(workflow: dict, prompt: dict) -> None:
    """Photo and video loaders saved with an empty first widget (`image`, Load Video's `file`). The frontend
    saves an image widget set to "" as the input
    folder's first file (or whatever it holds), and a placeholder name makes the page fetch a file that does
    not exist, again and again; "" it loads as it is, fetching nothing."""
    from example_workflows import NO_PHOTO, PHOTO_LOADERS as LOADERS

    for node in workflow["nodes"]:
        if node["type"] in LOADERS:
            node["widgets_values"][0] = NO_PHOTO
    for node in prompt.values():
        if node["class_type"] in LOADERS:
            node["inputs"][next(iter(LOADERS[node["class_type"]]))] = NO_PHOTO


def point_at_test_inputs(frontend: Frontend, api_server_url: str) -> None:
    """Through the page's widgets: every photo loader gets a test photo (source for the node titled
    "Source...", target otherwise), Load Video the test video, detectors the real small detector these machines have, restorers
    the quicker stand-in, the remote node our own API server."""
    for node in frontend.nodes():
        names, values = set(node["widgets"]), {}
        if node["type"] in PHOTO_LOADERS:
            values["image"] = INPUT_NAMES["source" if node["title"].startswith("Source") else "target"]
        if node["type"] == "LoadVideo":
            values["file"] = INPUT_NAMES["video"]
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
            for _, output in sorted(entry["outputs"].items(), key=lambda item: int(item[0]))
            for image in output.get("images", [])
            if image["type"] == "output"]
