"""A cluster worker running several jobs at once (`worker --jobs-at-once N`): real processes on a real
redis-server, real RetinaFace weights on real photos. Jobs are queued before the worker starts, so it takes
four at once; their detector calls merge (the worker's counts say so) and each result is the one a lone
server gives, but for the last bits of a batched convolution."""

from __future__ import annotations

import io
import os

import httpx
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("redis")
pytest.importorskip("arq")

from cluster_processes import REDIS_SERVER, Processes, redis_server  # noqa: E402
from server_harness import b64, running  # noqa: E402
from test_cluster import _cli, wait_final  # noqa: E402
from faceswap_v3.server.app import FaceswapServer  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER) and os.environ.get("CI") != "true",
                                reason="redis-server is not installed (CI installs it: .ci/run)")
PORTRAITS = ("portrait_female_01.jpg", "portrait_female_02.jpg", "portrait_male_01.jpg", "portrait_male_02.jpg")


def same_size_targets() -> list[str]:
    """Real portraits at one size, PNG, base64: frames a torch detector can take in one batch."""
    from support import FACES

    found = []
    for name in PORTRAITS:
        out = io.BytesIO()
        Image.open(FACES / name).convert("RGB").resize((480, 640)).save(out, format="PNG")
        found.append(b64(out.getvalue()))
    return found


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_a_worker_taking_four_jobs_at_once_merges_their_detector_calls_with_results_like_one_process(swap_root):
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.swap_models import SwapModels
    from support import FACES

    targets = same_size_targets()
    request = {"source_img": b64((FACES / "portrait_female_small_560x415.jpg").read_bytes()),
               "facedetection": "retinaface_mobile0.25", "face_restore_weight": 0, "image_format": "png"}
    with redis_server() as url:
        processes = Processes()
        try:
            _, api = processes.api(url, swap_root)
            ids = [httpx.post(f"{api}/v2/faceswap-v3", json={**request, "target_img": targets[i % 4]}, timeout=30)
                   .json()["request_id"] for i in range(8)]
            worker = processes.worker(url, None, "--models-dir", str(swap_root), "--jobs-at-once", "4")
            assert [wait_final(api, request_id, 180)["status"] for request_id in ids] == ["COMPLETED"] * 8
            counts = httpx.get(f"{api}/metrics", timeout=10).json()["workers"][worker.name]
            results = [httpx.get(httpx.get(f"{api}/v2/requests/{request_id}", timeout=10).json()["output"],
                                 timeout=10).content for request_id in ids[:4]]
        finally:
            processes.stop()

    assert counts["jobs"] == 8 and counts["jobs_at_once"] == 4 and counts["source_embeddings"] == 1
    # 8 target detections and the source's: fewer model calls than that means calls merged
    assert counts["merged_model_inputs"] == 9
    assert counts["merged_model_calls"] < counts["merged_model_inputs"]

    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False))
    with running(FaceswapServer(models=models)) as base:
        for target, result in zip(targets, results):
            alone = pixels(httpx.post(f"{base}/v1/faceswap-v3", json={**request, "target_img": target},
                                      timeout=120).content)
            difference = np.abs(pixels(result) - alone)
            assert difference.max() <= 2 and difference.mean() < 0.01


@pytest.mark.parametrize("value", ["0", "65", "-1"])
def test_jobs_at_once_out_of_range_is_one_line_naming_it(value):
    done = _cli("worker", "--redis", "redis://127.0.0.1:1/0", "--jobs-at-once", value)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "--jobs-at-once must be 1 to 64" in lines[0] and value in lines[0]
