"""The server's behaviours pinned where the alternatives differ: results kept exactly one hour, a FAILED
job's /status answering 422, image_quality above 100 refused, the admission budget back at zero after
many jobs, and a host name whose DNS answers mix a public and a private address refused."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from server_harness import make_server, payload, running, stand_in_engine
from faceswap_v3.net.url_guard import PUBLIC_ONLY, parse_url, resolve_allowed
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.job_contract import COMPLETED, FAILED


def wait_finished(base: str, request_id: str, timeout_s: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/v2/requests/{request_id}/status")
        if answer.json()["status"] in (COMPLETED, FAILED):
            return answer
        time.sleep(0.02)
    raise AssertionError(f"job {request_id} did not finish")


def test_a_result_is_kept_one_hour_after_the_job_finished_and_not_a_second_more(swap_root):
    # one process's clock; a cluster's hour is Redis's own key expiry (test_cluster.py reads its TTLs)
    now = [10_000.0]
    server = make_server(swap_root, clock=lambda: now[0])  # the server's own default result lifetime
    with running(server) as base:
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()["request_id"]
        assert wait_finished(base, job).json()["status"] == COMPLETED
        now[0] += 3600 - 0.5
        assert httpx.get(f"{base}/v2/requests/{job}").json()["status"] == COMPLETED
        assert httpx.get(f"{base}/v2/outputs/{job}.png").status_code == 200
        now[0] += 1.0
        assert httpx.get(f"{base}/v2/requests/{job}/status").status_code == 404
        assert httpx.get(f"{base}/v2/outputs/{job}.png").status_code == 404


def test_the_status_of_a_failed_job_answers_422_with_the_reason(serve, swap_root):
    def engine(job):
        raise BadInput("no face found in the source image")

    with serve(swap_root, engine=engine) as base:
        job = httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()["request_id"]
        status = wait_finished(base, job)
    assert status.status_code == 422
    assert status.json() == {"request_id": job, "status": FAILED, "error": "no face found in the source image"}


@pytest.mark.parametrize("quality, accepted", [(100, True), (101, False), (10, True), (9, False)])
def test_image_quality_is_accepted_from_10_to_100_only(serve, swap_root, quality, accepted):
    with serve(swap_root) as base:
        answer = httpx.post(f"{base}/v1/faceswap-v3", json=payload(image_format="jpeg", image_quality=quality))
    if accepted:
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    else:
        assert answer.status_code == 400
        assert answer.json()["error"] == f"image_quality must be a whole number from 10 to 100, got {quality}"


def test_a_long_run_of_jobs_gives_every_tickets_pixels_and_bytes_back(swap_root):
    calls = []

    def engine(job):  # every third job fails: failed jobs must give their room back too
        calls.append(1)
        if len(calls) % 3 == 0:
            raise BadInput("this one fails")
        return stand_in_engine(job)

    server = make_server(swap_root, engine=engine, max_jobs=4)
    with running(server) as base:
        for _ in range(4):
            jobs = [httpx.post(f"{base}/v2/faceswap-v3", json=payload()).json()["request_id"] for _ in range(3)]
            sync = httpx.post(f"{base}/v1/faceswap-v3", json=payload())
            assert sync.status_code in (200, 400)
            states = [wait_finished(base, job).json()["status"] for job in jobs]
            assert set(states) <= {COMPLETED, FAILED}
        assert len(calls) == 16  # 12 queued jobs and 4 sync ones, a third of them failed
        deadline = time.monotonic() + 10  # the worker gives a ticket back just after recording its job
        while server.admission.jobs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (server.admission.jobs, server.admission.pixels, server.admission.nbytes) == (0, 0, 0)


def fake_resolver(answers: list[str]):
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers]

    return getaddrinfo


@pytest.mark.parametrize("answers", [["93.184.216.34", "10.0.0.7"], ["10.0.0.7", "93.184.216.34"],
                                     ["93.184.216.34", "::1"], ["2606:2800:220:1::1", "169.254.169.254"]])
def test_a_host_whose_dns_answers_mix_public_and_private_addresses_is_refused(monkeypatch, answers):
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver(answers))
    with pytest.raises(BadInput, match="this server fetches images from public addresses only"):
        resolve_allowed(parse_url("https://images.example.org/face.jpg"), PUBLIC_ONLY)


def test_a_host_whose_dns_answers_are_all_public_is_fetched_from_the_first(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver(["93.184.216.34", "93.184.216.35"]))
    address = resolve_allowed(parse_url("https://images.example.org/face.jpg"), PUBLIC_ONLY)
    assert str(address) == "93.184.216.34"
