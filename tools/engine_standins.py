"""Stand-in engines with the server engine's interface (JobInput -> (image bytes, warnings)), for tests and
benchmarks of the job machinery: a worker takes one by FACESWAP_V3_WORKER_ENGINE=engine_standins:<name>
(with tools/ on PYTHONPATH). Each result depends on both images, so a mixed-up input shows."""

from __future__ import annotations

import os
import time

import numpy as np

SLEEP_S = float(os.environ.get("FACESWAP_V3_STANDIN_SLEEP_S", "0.2"))
CPU_ROUNDS = int(os.environ.get("FACESWAP_V3_STANDIN_CPU_ROUNDS", "30"))


def _blend(job) -> tuple[bytes, list[str]]:
    from faceswap_v3.pipeline.runtime.images import encode_image

    source_mean = job.source.reshape(-1, 3).mean(axis=0)
    out = (job.target.astype(np.float32) * 0.75 + source_mean * 0.25).round().astype(np.uint8)
    return encode_image(out, job.params.image_format, job.params.image_quality), []


def sleep_engine(job):
    """A fixed model time (FACESWAP_V3_STANDIN_SLEEP_S, default 0.2 s) that leaves the CPU free, as a GPU would."""
    time.sleep(SLEEP_S)
    return _blend(job)


def cpu_engine(job):
    """Model time spent on the CPU: CPU_ROUNDS 3x3 box blurs of a 256x256x3 float image (numpy), whatever
    the image's size (about 0.1 s on one core of the CI machine)."""
    image = np.resize(job.target.astype(np.float32), (256, 256, 3))
    for _ in range(CPU_ROUNDS):
        padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
        image = sum(padded[dy:dy + 256, dx:dx + 256] for dy in range(3) for dx in range(3)) / 9
    return _blend(job)


def instant_engine(job):
    return _blend(job)


def _slow_when_wide(job, honour_cancel: bool) -> tuple[bytes, list[str]]:
    if job.target.shape[1] >= 100:
        deadline = time.monotonic() + SLEEP_S
        while time.monotonic() < deadline:
            if honour_cancel:
                job.raise_if_cancelled()
            time.sleep(0.02)
    return _blend(job)


def cancellable_engine(job):
    """A slow job (FACESWAP_V3_STANDIN_SLEEP_S) for a target 100 px wide or more, an instant one otherwise; the
    slow one stops when its worker cancels it, checking every 20 ms as the real engine does between faces."""
    return _slow_when_wide(job, honour_cancel=True)


def stubborn_engine(job):
    """cancellable_engine's timing, but a slow job never stops early: a model call that cannot be interrupted."""
    return _slow_when_wide(job, honour_cancel=False)
