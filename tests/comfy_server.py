"""Driving a ComfyUI started by comfyui_harness the way its web page does: queue prompts and wait for
them, free memory, read the server process's memory, and listen on its websocket."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path

import httpx

import comfyui_harness as harness


class ComfyClient:
    """A running ComfyUI (harness.comfyui_server) seen through its HTTP API."""

    def __init__(self, server: harness.ComfyServer) -> None:
        self.server, self.url, self.base = server, server.url, server.base
        self.ws_url = server.url.replace("http://", "ws://", 1) + "/ws"

    def log_text(self) -> str:
        return self.server.log.read_text(errors="replace")

    def rss_bytes(self) -> int:
        """The server process's resident memory (VmRSS)."""
        for line in Path(f"/proc/{self.server.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def queue(self, prompt: dict, client_id: str | None = None) -> str:
        answer = httpx.post(f"{self.url}/prompt", json={"prompt": prompt, "client_id": client_id or uuid.uuid4().hex},
                            timeout=60)
        if answer.status_code != 200:
            raise AssertionError(f"POST /prompt answered {answer.status_code}: {answer.text}")
        return answer.json()["prompt_id"]

    def run(self, prompt: dict, client_id: str | None = None) -> dict:
        """Queue the prompt, wait, and return its outputs; fails with ComfyUI's error message."""
        entry = harness.wait_for_history(self.url, self.queue(prompt, client_id), timeout=300)
        assert entry["status"]["status_str"] == "success", harness.execution_errors(entry)
        return entry["outputs"]

    def free(self, unload_models: bool = True, free_memory: bool = True) -> None:
        answer = httpx.post(f"{self.url}/free", json={"unload_models": unload_models, "free_memory": free_memory},
                            timeout=30)
        assert answer.status_code == 200, answer.text


class WebSocketListener:
    """Collects every JSON message the server sends to one client id, on a background thread."""

    def __init__(self, server: ComfyClient) -> None:
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
