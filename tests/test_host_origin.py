"""The Host header is a host and a port, nothing else: any other spelling is ignored and the URLs the server
returns are built from the socket's address. The Origin header is compared as scheme, host and port parsed
strictly: spellings no browser sends (a trailing slash, a leading zero in the port) are refused."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from server_harness import make_server, payload, png_bytes, running

HOSTS_NOT_HOST_AND_PORT = ["localhost:{port}/x?", "localhost:{port}/x", "localhost:{port}?a=b", "localhost:{port}#f",
                           "localhost:{port}/", "localhost:0{port}", "user@localhost:{port}", "localhost:{port} x",
                           "localhost:{port}:{port}", "[::1%lo]:{port}", "localhost:+{port}"]


def _finished(base: str, request_id: str, headers: dict) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/v2/requests/{request_id}", headers=headers, timeout=10).json()
        if answer["status"] in ("COMPLETED", "FAILED"):
            return answer
        time.sleep(0.02)
    raise AssertionError(f"job {request_id} did not finish")


@pytest.fixture(scope="module")
def server(swap_root):
    with running(make_server(swap_root)) as base:
        yield base


@pytest.mark.parametrize("spelling", HOSTS_NOT_HOST_AND_PORT)
def test_a_host_header_that_is_not_host_and_port_never_reaches_a_returned_url(server, spelling):
    port = server.rsplit(":", 1)[1]
    headers = {"Host": spelling.format(port=port)}
    job = httpx.post(f"{server}/v2/faceswap-v3", json=payload(), headers=headers, timeout=30)
    assert job.status_code == 200, job.text
    request_id = job.json()["request_id"]
    result = _finished(server, request_id, headers)
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    asset = httpx.post(f"{server}/upload-asset", json={"data_urls": [data_url]}, headers=headers, timeout=30)
    urls = {"status_url": job.json()["status_url"], "response_url": job.json()["response_url"],
            "output": result["output"], "asset": asset.json()["file_urls"][0]}
    expected = {"status_url": f"{server}/v2/requests/{request_id}/status",
                "response_url": f"{server}/v2/requests/{request_id}",
                "output": f"{server}/v2/outputs/{request_id}.png"}
    assert {k: v for k, v in urls.items() if k != "asset"} == expected
    assert urls["asset"].startswith(f"{server}/assets/") and "/" not in urls["asset"].removeprefix(f"{server}/assets/")


def test_a_host_header_naming_this_server_is_used_as_sent(server):
    port = server.rsplit(":", 1)[1]
    for spelling, base in ((f"localhost:{port}", f"http://localhost:{port}"),
                           (f"LocalHost:{port}", f"http://localhost:{port}"),
                           (f"127.0.0.1:{port}", server)):
        job = httpx.post(f"{server}/v2/faceswap-v3", json=payload(), headers={"Host": spelling}, timeout=30).json()
        assert job["status_url"] == f"{base}/v2/requests/{job['request_id']}/status"


@pytest.mark.parametrize("spelling", ["http://127.0.0.1:{port}/", "http://127.0.0.1:0{port}", "http://127.0.0.1:{port}/x",
                                      "http://127.0.0.1:{port}?", "http://127.0.0.1:{port}#", "http://u@127.0.0.1:{port}",
                                      "http://127.0.0.1:+{port}", "http://127.0.0.1:{port}.", "http://127.0.0.1",
                                      "https://127.0.0.1:{port}", "http://127.0.0.1:{port} http://127.0.0.1:{port}"])
def test_origins_that_are_not_exactly_scheme_host_port_of_this_server_are_refused(server, spelling):
    origin = spelling.format(port=server.rsplit(":", 1)[1])
    answer = httpx.post(f"{server}/v2/faceswap-v3", json=payload(), headers={"Origin": origin}, timeout=30)
    assert answer.status_code == 403 and "cross-origin" in answer.json()["error"], (origin, answer.text)


def test_this_servers_own_origins_are_accepted(server):
    port = server.rsplit(":", 1)[1]
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"HTTP://LOCALHOST:{port}"):
        answer = httpx.post(f"{server}/v2/faceswap-v3", json=payload(), headers={"Origin": origin}, timeout=30)
        assert answer.status_code == 200, (origin, answer.text)


def test_ports_are_one_to_five_digits_without_a_leading_zero_up_to_65535():
    from faceswap_v3.server.http_guard import host_and_port, parse_origin

    assert parse_origin("http://127.0.0.1:800") == ("http", "127.0.0.1", 800)
    assert parse_origin("https://[::1]:65535") == ("https", "::1", 65535)
    assert parse_origin("http://localhost") == ("http", "localhost", 80)
    for refused in ("http://127.0.0.1:0800", "http://127.0.0.1:00800", "http://127.0.0.1:65536",
                    "http://127.0.0.1:0", "http://127.0.0.1:", "ftp://127.0.0.1:800", "null"):
        assert parse_origin(refused) is None, refused
    assert host_and_port("localhost:800", 80) == ("localhost", 800)
    assert host_and_port("localhost:0800", 80) is None and host_and_port("localhost:65536", 80) is None
