"""An in-process FaceswapServer on a real loopback socket (its own event loop on a thread), and small
loopback HTTP servers that play image hosts. For tests that need to reach inside the server (a fast
stand-in engine, a clock, small limits); the CLI-started process is in conftest.start_api_server."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import threading
import time
from concurrent.futures import CancelledError as FutureCancelled
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

import numpy as np
from PIL import Image

from support import RouteHandler


@contextmanager
def running(server, host: str = "127.0.0.1"):
    """Serve server.app() on a free port of host; yields the base URL."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = server.web_runner()
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, host, 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        server.close()


def png_bytes(width: int = 64, height: int = 48, colour=(200, 120, 40)) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), colour, np.uint8)).save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_server(root, **options):
    """A FaceswapServer over the models in root, with the fast stand-in engine unless options give one."""
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.swap_models import SwapModels
    from faceswap_v3.server.app import FaceswapServer

    from faceswap_v3.server.backends import backend_for

    options.setdefault("engine", stand_in_engine)
    if "redis_url" in options or "data_dir" in options:
        options["backend"] = backend_for(options.pop("redis_url", None), options.pop("data_dir", None))
    return FaceswapServer(models=SwapModels(store=ModelStore(models_root=root, allow_download=False)), **options)


def payload(**changes) -> dict:
    """A valid API body: two small PNGs as base64, png out, no restoration; changes on top."""
    png = png_bytes()
    return {"source_img": b64(png), "target_img": b64(png), "image_format": "png", "face_restore_weight": 0,
            "facedetection": "scrfd_2.5g_bnkps.onnx", **changes}


def stand_in_engine(job):
    """A fast engine: the target, re-encoded as asked (what the worker does, minus the swap)."""
    from faceswap_v3.pipeline.runtime.images import encode_image

    return encode_image(job.target, job.params.image_format, job.params.image_quality), []


class Gate:
    """An engine that waits until the test opens the gate (to hold the worker busy on purpose)."""

    def __init__(self) -> None:
        self.open, self.entered = threading.Event(), threading.Event()

    def __call__(self, job):
        self.entered.set()
        assert self.open.wait(30)
        return stand_in_engine(job)


class Listener:
    """A loopback TCP socket that never accepts: any connection attempt stays in its backlog, so
    connection_attempted() tells whether anything tried to connect (without a race)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def connection_attempted(self) -> bool:
        import select

        readable, _, _ = select.select([self.sock], [], [], 0.2)
        return bool(readable)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def image_host(host: str, routes: dict):
    """A threaded HTTP server on host (a loopback address) answering routes[path] = (status, headers,
    body); body may be a callable writing to the handler (for slow answers)."""
    with http_server(type("Handler", (RouteHandler,), {"routes": routes}), host) as base:
        yield base


@contextmanager
def http_server(handler, host: str = "127.0.0.1"):
    """A threaded HTTP server of this request handler class on a free port of host (loopback); yields its URL."""
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def worker_thread(redis_url: str, server, engine):
    """One cluster worker (the real ClusterWorker on arq) in a thread of this process, running engine, with
    the limits, result lifetime and clock of the cluster API server it serves."""
    from faceswap_v3.server.cluster_worker import ClusterWorker, cancel_until_done, serve_worker
    from faceswap_v3.server.redis_admission import RedisAdmission
    from faceswap_v3.server.redis_store import RedisJobStore

    store = RedisJobStore(redis_url, RedisAdmission(redis_url, server.limits), ttl_s=server.store.ttl_s,
                          clock=server.store.clock)
    worker = ClusterWorker(store, server.models, engine, name="in-process", max_attempts=1, job_timeout_s=60)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    tasks = []

    async def serve() -> None:
        tasks.append(asyncio.current_task())
        await serve_worker(worker, 0.005, handle_signals=False)

    serving = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        yield worker
    finally:
        while not tasks:
            time.sleep(0.001)
        loop.call_soon_threadsafe(cancel_until_done, tasks[0])
        try:
            serving.result(30)
        except (asyncio.CancelledError, FutureCancelled):
            pass
        asyncio.run_coroutine_threadsafe(_end_tasks_then_close(store), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _end_tasks_then_close(store) -> None:
    """Cancel what the worker's arq left running and wait for it, so no connection outlives the loop."""
    from faceswap_v3.server.cluster_worker import cancel_until_done

    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        cancel_until_done(task)
    await asyncio.gather(*others, return_exceptions=True)
    await store.close()


@contextmanager
def running_cluster(redis_url: str, root, **options):
    """make_server(root, **options) as a cluster's API process on redis_url (emptied first) with one worker
    thread running its engine: the same server, on the Redis backend."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    engine = options.pop("engine", stand_in_engine)
    server = make_server(root, redis_url=redis_url, **options)
    with running(server) as base, worker_thread(redis_url, server, engine):
        yield base
