"""A real ComfyUI server with this pack installed (headless, CPU, loopback), for the tests that need one.

Needs COMFYUI_DIR (a ComfyUI checkout) and optionally COMFYUI_PYTHON (a Python with its requirements;
default: this one). Tests skip without COMFYUI_DIR; CI sets it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

from support import FACES, REPO

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
SKIP_REASON = "COMFYUI_DIR is not set: these tests need a ComfyUI checkout (see README, 'Developers')"
PACK = "ComfyUI-Faceswap-V3"
INPUT_PHOTOS = {"faceswap_v3_source.jpg": "group_2faces_women_7242.jpg",
                "faceswap_v3_target.jpg": "couple_female_left_male_right.jpg"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_base(base: Path, models_root: Path) -> Path:
    """A ComfyUI base directory: the pack in custom_nodes/, our model folders from models_root, and
    the fixture photos in input/."""
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / PACK).symlink_to(REPO, target_is_directory=True)
    (base / "models").mkdir()
    for sub in ("facedetection", "insightface", "facerestore_models"):
        (base / "models" / sub).symlink_to((models_root / sub).resolve(), target_is_directory=True)
    (base / "input").mkdir()
    for name, photo in INPUT_PHOTOS.items():
        shutil.copyfile(FACES / photo, base / "input" / name)
    return base


class ComfyServer:
    """`python main.py --cpu` on a free loopback port with base as its base directory."""

    def __init__(self, base: Path, env: dict | None = None, start_timeout_s: float = 120) -> None:
        self.base, self.log = base, base / "comfyui.log"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", "--cpu", "--listen", "127.0.0.1",
                 "--port", str(port), "--base-directory", str(base), "--disable-auto-launch",
                 "--database-url", "sqlite:///:memory:"],
                cwd=COMFYUI_DIR, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "FACESWAP_V3_OFFLINE": "1", **(env or {})})
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/object_info", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("ComfyUI exited:\n" + self.log_text()[-3000:])
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {start_timeout_s:.0f} s:\n" + self.log_text()[-3000:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_bytes(self) -> int:
        """The server process's resident memory (VmRSS)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def queue(self, prompt: dict, client_id: str | None = None) -> str:
        answer = httpx.post(f"{self.url}/prompt", json={"prompt": prompt, "client_id": client_id or uuid.uuid4().hex},
                            timeout=60)
        if answer.status_code != 200:
            raise AssertionError(f"POST /prompt answered {answer.status_code}: {answer.text}")
        return answer.json()["prompt_id"]

    def wait(self, prompt_id: str, timeout_s: float = 300) -> dict:
        """The prompt's /history entry once it has finished (success or error)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            history = httpx.get(f"{self.url}/history/{prompt_id}", timeout=30).json()
            if prompt_id in history:
                return history[prompt_id]
            time.sleep(0.25)
        raise AssertionError(f"prompt {prompt_id} did not finish within {timeout_s:.0f} s")

    def run(self, prompt: dict, client_id: str | None = None) -> dict:
        """Queue the prompt, wait, and return its outputs; fails with ComfyUI's error message."""
        entry = self.wait(self.queue(prompt, client_id))
        errors = [m[1] for m in entry["status"].get("messages", []) if m[0] == "execution_error"]
        assert entry["status"]["status_str"] == "success", errors
        return entry["outputs"]

    def free(self, unload_models: bool = True, free_memory: bool = True) -> None:
        answer = httpx.post(f"{self.url}/free", json={"unload_models": unload_models, "free_memory": free_memory},
                            timeout=30)
        assert answer.status_code == 200, answer.text

    def object_info(self) -> dict:
        return httpx.get(f"{self.url}/object_info", timeout=30).json()


class WebSocketListener:
    """Collects every JSON message the server sends to one client id, on a background thread."""

    def __init__(self, server: ComfyServer) -> None:
        self.client_id = uuid.uuid4().hex
        self.messages: list[dict] = []
        self._url = f"{server.ws_url}?clientId={self.client_id}"
        self._connected = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)

    def __enter__(self) -> "WebSocketListener":
        self._thread.start()
        if not self._connected.wait(30):
            raise RuntimeError(f"could not connect to {self._url}")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def of_type(self, kind: str) -> list[dict]:
        return [m["data"] for m in list(self.messages) if m.get("type") == kind]

    async def _listen(self) -> None:
        import aiohttp

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self._url) as ws:
                self._connected.set()
                stopping = asyncio.ensure_future(self._stop.wait())
                while True:
                    receiving = asyncio.ensure_future(ws.receive())
                    done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if stopping in done:
                        receiving.cancel()
                        return
                    message = receiving.result()
                    if message.type == aiohttp.WSMsgType.TEXT:
                        self.messages.append(json.loads(message.data))
                    elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        return
