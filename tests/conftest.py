"""Shared test fixtures: the real photos and models in ../shared, a models root laid out like ComfyUI's,
and a loopback HTTP server. Nothing here reaches the internet: downloads are switched off by default."""

from __future__ import annotations

import atexit
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from cluster_processes import end_started, popen
from support import MODELS, RouteHandler

# Processes the tests start (through cluster_processes.popen) never outlive the run: each dies with this
# process (PR_SET_PDEATHSIG), and whatever still runs when the session ends, or is interrupted, is killed.
atexit.register(end_started)


def pytest_sessionfinish(session, exitstatus) -> None:
    end_started()


def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    monkeypatch.setenv("FACESWAP_V3_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.delenv("FACESWAP_V3_MODELS", raising=False)
    monkeypatch.delenv("FACESWAP_V3_API_KEY", raising=False)
    # pixel and call-count expectations were pinned on onnxruntime fp32; the runtime choice and OpenVINO's
    # bf16 sessions have their own tests (test_runtime_choice.py, test_openvino_drift.py)
    monkeypatch.setenv("FACESWAP_V3_RUNTIME", "onnxruntime")
    monkeypatch.delenv("FACESWAP_V3_PRECISION", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _isolated_session(tmp_path_factory):
    """The same for what fixtures wider than one test build (a module's restorer, a shared ComfyUI server), which
    pytest makes before any test's own fixtures."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, tmp_path_factory)
        yield


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory):
    _isolate(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="session")
def models_root(tmp_path_factory) -> Path:
    """A ComfyUI-style models/ root holding the real small models of ../shared/models."""
    root = tmp_path_factory.mktemp("models")
    placements = {
        "facedetection/detection_mobilenet0.25_Final.pth": "detection_mobilenet0.25_Final.pth",
        "facedetection/det_500m.onnx": "det_500m.onnx",
        "facedetection/scrfd_2.5g_bnkps.onnx": "scrfd_2.5g_bnkps.onnx",
        # Real gender/age weights in the exact interface of buffalo_l's genderage.onnx (see models README).
        "insightface/models/buffalo_l/genderage.onnx": "genderage_2018_wrapped.onnx",
    }
    for relative, source in placements.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MODELS / source, target)
    return root


@pytest.fixture(scope="session")
def store(models_root):
    from faceswap_v3.pipeline.models.store import ModelStore

    return ModelStore(models_root=models_root, allow_download=False)


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1; add routes with server.routes[path] = (status, headers, body)."""
    handler = type("Handler", (RouteHandler,), {"routes": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.routes = handler.routes
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def swap_root(models_root) -> Path:
    """models_root plus stand-ins with the exact interface of inswapper_128.onnx and buffalo_l's
    w600k_r50.onnx (identity / solid-colour / latent-dependent swappers) and of FaceFusion's content
    analysers (content_analyser/nsfw_1/2/3.onnx: they flag a magenta marker image, not photos). Stand-ins test geometry
    and plumbing only, never swap quality."""
    import standins

    insightface = models_root / "insightface"
    standins.inswapper(insightface / "inswapper_128.onnx", "identity")
    standins.inswapper(insightface / "solid_green.onnx", "solid", colour=(0.0, 1.0, 0.0))
    standins.inswapper(insightface / "latent_shift.onnx", "latent", colour=(0.3, -0.3, 0.2))
    standins.arcface(insightface / "models" / "buffalo_l" / "w600k_r50.onnx")
    standins.wrong_interface(insightface / "not_a_swapper.onnx")
    # FaceFusion's content analysers, so a content check is installed even where nudenet is not
    standins.content_analysers(models_root / "content_analyser")
    return models_root


@pytest.fixture(scope="session")
def restorer_root(swap_root, tmp_path_factory) -> Path:
    """swap_root's models plus real-size GFPGAN (v1.3 and v1.4 share one layout) and CodeFormer
    networks with random weights, saved as .pth files under facerestore_models/."""
    import os

    import standins

    root = tmp_path_factory.mktemp("restorer-models")
    for sub in ("facedetection", "insightface"):
        (root / sub).symlink_to(swap_root / sub, target_is_directory=True)
    folder = root / "facerestore_models"
    standins.restorer_checkpoint(folder / "GFPGANv1.4.pth", "GFPGAN")
    os.link(folder / "GFPGANv1.4.pth", folder / "GFPGANv1.3.pth")
    standins.restorer_checkpoint(folder / "codeformer-v0.1.0.pth", "CodeFormer")
    return root


class ServerURL(str):
    """A started server's URL; .process is its Popen, .data_dir its --data-dir."""

    process = None
    data_dir = None


@pytest.fixture(scope="session")
def start_api_server(tmp_path_factory):
    """Start `python -m faceswap_v3 serve` as a real process on a free loopback port; returns its URL
    (a ServerURL). Each server gets a fresh --data-dir unless one is passed, and --no-content-check unless
    a --content-check is passed (tests/test_content_check_server.py checks content). Every server started
    is stopped at the end of the session."""
    import os
    import subprocess
    import sys

    processes = []

    def start(models_root: Path, *extra: str) -> ServerURL:
        env = {**os.environ, "FACESWAP_V3_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        if not any(arg.startswith("--content-check") for arg in extra):
            extra = (*extra, "--no-content-check")
        if "--data-dir" not in extra:
            extra = (*extra, "--data-dir", str(tmp_path_factory.mktemp("server-data")))
        process = popen(
            [sys.executable, "-m", "faceswap_v3", "serve", "--port", "0", "--models-dir", str(models_root), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        processes.append(process)
        line = process.stdout.readline()
        if "serving the Faceswap V3 API on " not in line:
            process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        url = ServerURL(line.strip().rsplit(" ", 1)[1])
        url.process, url.data_dir = process, Path(extra[list(extra).index("--data-dir") + 1])
        return url

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def identity_root(swap_root, tmp_path_factory) -> Path:
    """swap_root's detectors, swappers and genderage, with a content-dependent stand-in of w600k_r50.onnx
    (standins.arcface_content: the same face crop gives the same embedding, different faces unrelated ones),
    for tests that select or compare faces by identity. Here the default swapper inswapper_128.onnx paints
    faces solid green (so the all-in-one node's swaps show) and identity.onnx returns the face unchanged.
    models/reactor/faces starts empty."""
    import standins

    root = tmp_path_factory.mktemp("identity-models")
    (root / "facedetection").symlink_to(swap_root / "facedetection", target_is_directory=True)
    insightface = root / "insightface"
    (insightface / "models" / "buffalo_l").mkdir(parents=True)
    for name, source in (("inswapper_128.onnx", "solid_green.onnx"), ("identity.onnx", "inswapper_128.onnx"),
                         ("solid_green.onnx", "solid_green.onnx"), ("latent_shift.onnx", "latent_shift.onnx")):
        (insightface / name).symlink_to(swap_root / "insightface" / source)
    genderage = "models/buffalo_l/genderage.onnx"
    (insightface / genderage).symlink_to(swap_root / "insightface" / genderage)
    standins.arcface_content(insightface / "models" / "buffalo_l" / "w600k_r50.onnx")
    (root / "reactor" / "faces").mkdir(parents=True)
    return root


@pytest.fixture(scope="session")
def cluster_redis_url():
    """A real redis-server for the whole session (each cluster test empties it first)."""
    import os

    pytest.importorskip("arq")
    from cluster_processes import REDIS_SERVER, redis_server

    if not Path(REDIS_SERVER).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed")
    with redis_server() as url:
        yield url


@pytest.fixture(params=["local", "redis"])
def serve(request):
    """serve(root, **options): a context manager serving make_server(root, **options) on loopback, yielding
    its URL: one process with its SQLite store, or the cluster backend (API on Redis, a worker thread).
    serve.backend says which ("local" or "redis")."""
    from server_harness import make_server, running, running_cluster

    if request.param == "local":
        def serve(root, **options):
            return running(make_server(root, **options))
    else:
        url = request.getfixturevalue("cluster_redis_url")

        def serve(root, **options):
            return running_cluster(url, root, **options)
    serve.backend = request.param
    return serve
