"""The server process's memory, read from /proc: queued jobs hold encoded bytes (not pixels), and v1
jobs leave nothing behind."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from PIL import Image

from support import FACES


def proc_status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def solid_png(width: int, height: int, colour=(90, 140, 200)) -> bytes:
    """A PNG of one colour, written row by row (never holding the pixels): ~300 KB for 100 MP."""
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" + bytes(colour) * width
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def wait_finished(base: str, request_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/v2/requests/{request_id}").json()
        if answer["status"] in ("COMPLETED", "FAILED"):
            return answer
        time.sleep(0.2)
    raise AssertionError(f"job {request_id} did not finish")


def test_four_concurrent_100_megapixel_png_jobs_keep_peak_rss_under_2_5_gb(start_api_server, swap_root):
    huge = base64.b64encode(solid_png(10000, 10000)).decode()
    assert len(huge) < 600_000
    server = start_api_server(swap_root)
    body = {"source_img": huge, "target_img": huge, "facedetection": "scrfd_2.5g_bnkps.onnx",
            "face_restore_weight": 0}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: httpx.post(f"{server}/v2/faceswap-v3", json=body, timeout=120), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    queued_rss_mb = proc_status_kb(server.process.pid, "VmRSS") / 1024
    results = [wait_finished(server, a.json()["request_id"]) for a in answers]
    peak_mb = proc_status_kb(server.process.pid, "VmHWM") / 1024
    # a solid colour has no face: every job decodes both images, looks, and fails with the reason
    assert [r["status"] for r in results] == ["FAILED"] * 4
    assert results[0]["error"].startswith("no face found in the source image")
    assert peak_mb < 2500, f"peak RSS {peak_mb:.0f} MB"
    assert queued_rss_mb < 1200, f"RSS with four jobs queued {queued_rss_mb:.0f} MB"


def noise_jpeg(width: int, height: int) -> str:
    """Random pixels: a JPEG of about 2.5 bytes a pixel at quality 100 (what a stored result would cost)."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=100)
    return base64.b64encode(out.getvalue()).decode()


def small_face() -> str:
    out = io.BytesIO()
    Image.open(FACES / "portrait_female_02.jpg").convert("RGB").resize((240, 320)).save(out, "JPEG", quality=90)
    return base64.b64encode(out.getvalue()).decode()


def test_one_hundred_sequential_v1_jobs_grow_rss_by_under_50_mb(start_api_server, swap_root):
    server = start_api_server(swap_root)
    # the target has no face: it comes back whole, as a ~1 MB JPEG, with a warning
    body = {"source_img": small_face(), "target_img": noise_jpeg(800, 800), "facedetection": "det_500m.onnx",
            "face_restore_weight": 0, "image_format": "jpeg", "image_quality": 100}
    with httpx.Client(timeout=60) as client:
        for _ in range(5):
            first = client.post(f"{server}/v1/faceswap-v3", json=body)
        assert first.status_code == 200 and len(first.content) > 1_000_000
        before_mb = proc_status_kb(server.process.pid, "VmRSS") / 1024
        statuses = [client.post(f"{server}/v1/faceswap-v3", json=body).status_code for _ in range(100)]
    after_mb = proc_status_kb(server.process.pid, "VmRSS") / 1024
    assert statuses == [200] * 100
    assert after_mb - before_mb < 50, f"RSS grew from {before_mb:.0f} MB to {after_mb:.0f} MB"
