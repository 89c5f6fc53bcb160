"""Round two of the server's hardening, each case as an attacker or a careless operator meets it: hostile
image URLs (compression bombs, odd redirects), slow and never-ending clients, extreme image shapes, a full
disk, damaged job rows and a second server on the same directory. Loopback only, bounded loops."""

from __future__ import annotations

import io
import json
import logging
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from server_harness import b64, image_host, png_bytes, running, stand_in_engine
from support import REPO
from faceswap_v3.net.url_guard import ANY_ADDRESS
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.server.connection_guard import ConnectionLimits
from faceswap_v3.server.database import Database, DataDirInUse
from faceswap_v3.server.acceptance import request_params
from faceswap_v3.server.app import FaceswapServer
from faceswap_v3.server.job_table import DAMAGED_ROW, JobTable

PNG = png_bytes()


def make_server(root, **options) -> FaceswapServer:
    from server_harness import make_server as harness_server

    return harness_server(root, **options)


def payload(**changes) -> dict:
    return {"source_img": b64(PNG), "target_img": b64(PNG), "image_format": "png", "face_restore_weight": 0,
            "facedetection": "scrfd_2.5g_bnkps.onnx", **changes}


def final_states(base: str, ids: list[str], deadline_s: float) -> dict[str, str]:
    end = time.monotonic() + deadline_s
    states = {}
    while time.monotonic() < end:
        states = {i: httpx.get(f"{base}/v2/requests/{i}/status").json()["status"] for i in ids}
        if all(s in ("COMPLETED", "FAILED") for s in states.values()):
            break
        time.sleep(0.1)
    return states


# --- compressed answers ----------------------------------------------------------------------------
_BOMB_SCRIPT = textwrap.dedent("""
    import json, resource, sys, zlib
    sys.path[:0] = sys.argv[1:3]
    from server_harness import image_host
    from faceswap_v3.net.http_fetch import fetch_bytes
    from faceswap_v3.net.url_guard import ANY_ADDRESS
    from faceswap_v3.pipeline.errors import BadInput

    def compressed(data_size, wbits):
        packer, zeros, out = zlib.compressobj(1, zlib.DEFLATED, wbits), bytes(1 << 20), []
        for _ in range(data_size >> 20):
            out.append(packer.compress(zeros))
        return b"".join(out) + packer.flush()

    inner = compressed(512 << 20, 31)  # 512 MB of zeros as gzip: ~2 MB
    routes = {"/gg": (200, {"Content-Encoding": "gzip, gzip"}, zlib.compress(inner, 9, wbits=31)),
              "/gd": (200, {"Content-Encoding": "gzip, deflate"}, zlib.compress(inner, 9, wbits=15)),
              "/g": (200, {"Content-Encoding": "gzip"}, inner)}
    outcome = {}
    with image_host("127.0.0.1", routes) as base:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for path in routes:
            try:
                fetch_bytes(base + path, policy=ANY_ADDRESS, max_bytes=50 << 20)
                outcome[path] = "fetched"
            except BadInput as exc:
                outcome[path] = str(exc)
        outcome["growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps(outcome))
""")


def test_stacked_and_single_layer_compression_bombs_are_refused_with_little_memory(tmp_path):
    """A loopback origin (the test's opt-in to private addresses) answers 512 MB of zeros gzipped, once
    and twice; peak RSS is measured in a fresh process."""
    script = tmp_path / "bomb.py"
    script.write_text(_BOMB_SCRIPT)
    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, str(script), str(tests), str(REPO / "tools")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert "compressed more than once (Content-Encoding: gzip, gzip)" in outcome["/gg"]
    assert "compressed more than once (Content-Encoding: gzip, deflate)" in outcome["/gd"]
    assert "decodes to more than the limit of 52428800 bytes" in outcome["/g"]
    assert outcome["growth_mb"] < 100, outcome


# --- odd redirect targets --------------------------------------------------------------------------
@pytest.mark.parametrize("location", ["data:image/png;base64,iVBORw0KGgo=", "http:\\\\127.0.0.1\\",
                                      "javascript:alert(1)"])
def test_a_redirect_to_something_that_is_not_an_http_url_is_a_400(serve, swap_root, location, caplog):
    routes = {"/r.png": (302, {"Location": location}, b"")}
    with image_host("127.0.0.1", routes) as host, serve(swap_root, url_policy=ANY_ADDRESS) as base:
        with caplog.at_level(logging.ERROR, logger="faceswap_v3"):
            answer = httpx.post(f"{base}/v2/faceswap-v3", json=payload(target_img=f"{host}/r.png"), timeout=30)
            normal = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
    assert answer.status_code == 400, answer.text
    assert "redirected to an address that is not an http(s) URL" in answer.json()["error"]
    assert "Traceback" not in caplog.text and normal.status_code == 200


# --- slow and never-ending clients ----------------------------------------------------------------
def _still_open(sock: socket.socket) -> bool:
    """Whether the server has not closed sock yet (looked at without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes sock within seconds (whatever it answers before closing)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            return False
        except OSError:  # reset
            return True
    return False


def test_idle_half_sent_and_never_ending_requests_are_closed_at_their_deadlines(swap_root):
    limits = ConnectionLimits(header_timeout_s=2.0, body_timeout_s=3.0)
    with running(make_server(swap_root, connections=limits)) as base:
        host, port = base.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(40)]
        half = [socket.create_connection((host, int(port))) for _ in range(20)]
        endless = [socket.create_connection((host, int(port))) for _ in range(20)]
        for sock in half:
            sock.sendall(b"POST /v2/faceswap-v3 HTTP/1.1\r\nHost: x\r\n")
        for sock in endless:
            sock.sendall(b"POST /v2/faceswap-v3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
        stop = threading.Event()

        def trickle():  # a header byte and a body chunk every 100 ms: no deadline may be extended by it
            while not stop.wait(0.1):
                for sock in half:
                    try:
                        sock.send(b"X")
                    except OSError:
                        pass
                for sock in endless:
                    try:
                        sock.send(b"1\r\n \r\n")
                    except OSError:
                        pass

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            normal = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=10)
            # the normal request was answered while every slow connection was still held (an ordering)
            held_while_served = [_still_open(s) for s in idle + half + endless]
            # header deadline 2 s; the body deadline 3 s plus at most 2 s draining what follows the 408
            closed = [_closed_within(s, 8.0) for s in idle + half + endless]
        finally:
            stop.set()
            thread.join(5)
            for sock in idle + half + endless:
                sock.close()
    assert normal.status_code == 200 and all(held_while_served), f"{held_while_served.count(False)} closed first"
    assert all(closed), f"{closed.count(False)} of {len(closed)} connections still open"


def test_connections_past_the_cap_are_closed_at_once_and_logged_once(swap_root, caplog):
    limits = ConnectionLimits(max_connections=10, header_timeout_s=5.0)
    with running(make_server(swap_root, connections=limits)) as base:
        host, port = base.removeprefix("http://").split(":")
        with caplog.at_level(logging.WARNING, logger="faceswap_v3.server"):
            held = [socket.create_connection((host, int(port))) for _ in range(10)]
            for sock in held:  # each in a request (its body on its way): none can make room for a new one
                sock.sendall(b"POST /v2/faceswap-v3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n{")
            time.sleep(0.3)
            extra = [socket.create_connection((host, int(port))) for _ in range(30)]
            refused = [_closed_within(s, 2.0) for s in extra]
            for sock in held + extra:
                sock.close()
            time.sleep(0.3)
            after = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=10)
    assert all(refused) and after.status_code == 200
    assert caplog.text.count("closed new connections") == 1


def test_the_body_bytes_buffered_across_requests_are_capped(swap_root):
    limits = ConnectionLimits(max_buffered_bytes=1_000_000, body_timeout_s=10.0)
    with running(make_server(swap_root, connections=limits)) as base:
        host, port = base.removeprefix("http://").split(":")
        slow = socket.create_connection((host, int(port)))
        slow.sendall(b"POST /v2/faceswap-v3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 900000\r\n\r\n" + b" " * 1000)
        time.sleep(0.3)
        second = httpx.post(f"{base}/v2/faceswap-v3", json=payload(pad=" " * 200_000), timeout=10)
        slow.close()
        time.sleep(0.3)
        third = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=10)
    assert second.status_code == 429 and second.headers["retry-after"] == "5"
    assert "MiB of request bodies" in second.json()["error"]
    assert third.status_code == 200


# --- shapes ------------------------------------------------------------------------------------------
def _grey_png(width: int, height: int) -> bytes:
    """A valid 8-bit grey PNG of width x height, all black, compressed while it is made (no full raw copy)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, parts, row = zlib.compressobj(9), [], bytes(width + 1)
    rows_per_block = max(1, (1 << 20) // (width + 1))
    for top in range(0, height, rows_per_block):
        parts.append(packer.compress(row * min(rows_per_block, height - top)))
    parts.append(packer.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(1, 100_000_000), (100_000_000, 1)])
def test_a_100_megapixel_strip_is_refused_at_acceptance_without_decoding_it(serve, swap_root, width, height,
                                                                             monkeypatch):
    from PIL import ImageFile

    strip = b64(_grey_png(width, height))
    calls, decoded = [], []
    load = ImageFile.ImageFile.load

    def counted_load(image):  # what "refused in under a second" stood for: refused from the header, undecoded
        decoded.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted_load)
    with serve(swap_root, engine=lambda job: calls.append(job) or stand_in_engine(job)) as base:
        answer = httpx.post(f"{base}/v2/faceswap-v3", json=payload(target_img=strip), timeout=30)
    assert answer.status_code == 400, answer.text
    assert f"target_img is {width}x{height}; each side may be at most 32768 px" in answer.json()["error"]
    assert calls == [] and (width, height) not in decoded


def test_a_strip_within_the_side_cap_is_refused_for_its_ratio_at_acceptance(serve, swap_root):
    strip = b64(_grey_png(20_000, 100))  # each side under 32768 px, the longer 200 times the shorter
    calls = []
    with serve(swap_root, engine=lambda job: calls.append(job) or stand_in_engine(job)) as base:
        answer = httpx.post(f"{base}/v2/faceswap-v3", json=payload(target_img=strip), timeout=30)
    assert answer.status_code == 400 and calls == []
    assert answer.json()["error"].startswith("target_img is 20000x100; the longer side may be at most 50 times")


def test_a_webp_target_wider_than_16383_px_is_refused_before_queueing(swap_root):
    out = io.BytesIO()
    Image.fromarray(np.zeros((400, 16_400, 3), np.uint8)).save(out, format="PNG")
    server = make_server(swap_root)
    with running(server) as base:
        webp = httpx.post(f"{base}/v2/faceswap-v3", json=payload(target_img=b64(out.getvalue()), image_format="webp"))
        stored = server.backend.jobs.count()
    assert webp.status_code == 400 and stored == 0
    assert webp.json()["error"] == ("target_img is 16400x400, but image_format=webp cannot hold a side over 16383 px; "
                                    "choose image_format=png or a smaller target")


# --- a full disk --------------------------------------------------------------------------------------
@pytest.fixture
def small_volume(tmp_path):
    """A 2 MB tmpfs (root only); the data directory inside it fills up after a few jobs."""
    mount_point = tmp_path / "volume"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a 2 MB tmpfs cannot be mounted here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point / "data"
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_answers_507_and_leaves_no_acknowledged_job_queued(swap_root, small_volume):
    rng = np.random.default_rng(16)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)).save(out, format="PNG")
    noise = out.getvalue()  # ~96 KB that no compression shrinks
    server = make_server(swap_root, data_dir=small_volume, sweep_interval_s=0.5)
    accepted, statuses = [], []
    with running(server) as base:
        for _ in range(40):
            answer = httpx.post(f"{base}/v2/faceswap-v3", json=payload(source_img=b64(noise), target_img=b64(noise)),
                                timeout=30)
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                accepted.append(answer.json()["request_id"])
        states = final_states(base, accepted, deadline_s=20)
        first = httpx.get(f"{base}/v2/requests/{accepted[0]}")
    assert 507 in statuses and 500 not in statuses and set(statuses) <= {200, 507}, statuses
    assert accepted and all(s in ("COMPLETED", "FAILED") for s in states.values()), states
    assert first.status_code in (200, 422)


# --- damaged rows and the lock -------------------------------------------------------------------------
def test_a_damaged_row_fails_only_its_job_and_the_server_starts(swap_root, tmp_path, caplog):
    data_dir = tmp_path / "data"
    database = Database(data_dir)
    table = JobTable(database=database)
    mapping = request_params(payload(), ModelStore(models_root=swap_root, allow_download=False))[0].to_mapping()
    good, bad, shown = (table.add(mapping, PNG, PNG, 2 * 64 * 48).request_id for _ in range(3))
    database.execute("UPDATE jobs SET params = ? WHERE request_id = ?", ("{bad json", bad))
    database.execute("UPDATE jobs SET state = 'COMPLETED', finished = 1e12, warnings = ? WHERE request_id = ?",
                     ("[not json", shown))
    database.close()
    with caplog.at_level(logging.ERROR, logger="faceswap_v3.server"):
        with running(make_server(swap_root, data_dir=data_dir)) as base:
            states = final_states(base, [good, bad], deadline_s=20)
            failed = httpx.get(f"{base}/v2/requests/{bad}")
            damaged_result = httpx.get(f"{base}/v2/requests/{shown}")
    assert states == {good: "COMPLETED", bad: "FAILED"}
    assert failed.status_code == 422 and failed.json()["error"] == DAMAGED_ROW
    assert damaged_result.status_code == 422 and damaged_result.json()["error"] == DAMAGED_ROW
    assert f"job {bad}: its stored record is damaged" in caplog.text
    assert f"job {shown}: its stored record is damaged" in caplog.text


def test_a_deleted_lock_file_still_refuses_a_second_server(tmp_path):
    data_dir = tmp_path / "data"
    first = Database(data_dir)
    try:
        for path in data_dir.iterdir():
            if path.suffix == ".lock":
                path.unlink()
        with pytest.raises(DataDirInUse, match="another server is using the data directory"):
            Database(data_dir)
    finally:
        first.close()
    Database(data_dir).close()  # free again once the first has gone
