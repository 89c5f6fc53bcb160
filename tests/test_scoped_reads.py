"""Every read of a job (status, result, output) answers only the key that submitted it: any other key is
answered 404, as for an unknown id, on both backends: another API process of a cluster with its own key, and
one server restarted with a new key (a key is rotated precisely because it leaked)."""

from __future__ import annotations

import time

import httpx
import pytest

from server_harness import make_server, payload, running


def _submit_and_finish(base: str, key: str | None) -> str:
    headers = {"x-api-key": key} if key else {}
    request_id = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers=headers, timeout=30).json()["request_id"]
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/v2/requests/{request_id}/status", headers=headers, timeout=10).json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline, "the job never completed"
        time.sleep(0.05)
    return request_id


def _reads(base: str, request_id: str, key: str | None) -> list[int]:
    """The status codes of status, result and output (the output URL as the owner was given it)."""
    headers = {"x-api-key": key} if key else {}
    return [httpx.get(f"{base}/v2/requests/{request_id}/status", headers=headers, timeout=10).status_code,
            httpx.get(f"{base}/v2/requests/{request_id}", headers=headers, timeout=10).status_code,
            httpx.get(f"{base}/v2/outputs/{request_id}.png", headers=headers, timeout=10).status_code]


@pytest.mark.parametrize("first, second", [("key-A", "key-B"), (None, "key-B"), ("key-A", None)],
                         ids=["rotated", "key-added", "key-removed"])
def test_locally_a_key_change_hides_the_jobs_of_the_old_key(swap_root, tmp_path, first, second):
    with running(make_server(swap_root, data_dir=tmp_path, api_key=first)) as base:
        request_id = _submit_and_finish(base, first)
        assert _reads(base, request_id, first) == [200, 200, 200]
    with running(make_server(swap_root, data_dir=tmp_path, api_key=second)) as base:
        assert _reads(base, request_id, second) == [404, 404, 404]
    with running(make_server(swap_root, data_dir=tmp_path, api_key=first)) as base:
        assert _reads(base, request_id, first) == [200, 200, 200]  # kept for its own key


def test_in_a_cluster_another_api_process_key_reads_404(cluster_redis_url, swap_root):
    from server_harness import running_cluster

    with running_cluster(cluster_redis_url, swap_root, api_key="key-A") as first:
        request_id = _submit_and_finish(first, "key-A")
        with running(make_server(swap_root, redis_url=cluster_redis_url, api_key="key-B")) as other, \
                running(make_server(swap_root, redis_url=cluster_redis_url, api_key="key-A")) as same:
            assert _reads(other, request_id, "key-B") == [404, 404, 404]
            assert httpx.delete(f"{other}/v2/requests/{request_id}", headers={"x-api-key": "key-B"},
                                timeout=10).status_code == 404
            assert _reads(same, request_id, "key-A") == [200, 200, 200]
