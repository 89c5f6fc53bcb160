"""Clients that open connections and never finish their headers must not lock a normal client out: once
the connection cap is reached, a new connection takes the place of the one that has waited longest for a
request, so the normal client is answered while the attackers' connections are still held (long before any
header deadline reaps them). The server runs in its own process, also with the open-files limit at 1,024
(where it must never run out of descriptors); the attackers are plain sockets of this process."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cluster_processes import popen
from server_harness import payload
from faceswap_v3.server.connection_guard import ConnectionLimits
from faceswap_v3.server.rate_limited_log import LOG_INTERVAL_S

TESTS = Path(__file__).resolve().parent
HALF_REQUEST = b"POST /v2/faceswap-v3 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
# The header deadline is far longer than the test: only making room, never reaping, can let a client in.
HEADER_DEADLINE_S = 600.0
SERVER = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/../tools"]
from server_harness import make_server, running
from faceswap_v3.server.connection_guard import ConnectionLimits
from faceswap_v3.server.rate_limited_log import LOG_INTERVAL_S

limits = ConnectionLimits(header_timeout_s=float(sys.argv[3]), max_connections=int(sys.argv[4]))
with running(make_server(sys.argv[2], connections=limits)) as base:
    print(base, limits.connection_cap(), flush=True)
    sys.stdin.read()  # serve until the test closes stdin
"""


def _room_for(sockets: int) -> None:
    """Raise this process's soft open-files limit to hold `sockets` (skip where the hard limit is lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = sockets + 256
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the open-files hard limit ({hard}) is below the {needed} this test holds")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _limit_open_files(limit: int | None):
    def apply() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    return apply


def _still_open(sock: socket.socket) -> bool:
    """Whether the server still holds sock's connection (it has neither closed nor reset it)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _status(sock: socket.socket) -> int:
    sock.setblocking(True)
    sock.settimeout(60)
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"the server closed the connection before answering: {answer!r}")
        answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("attackers, open_files, max_connections", [
    (3000, None, ConnectionLimits.max_connections),
    (1100, 1024, ConnectionLimits.max_connections),
    (1100, 1024, 100_000),  # the cap set by the open-files limit alone
], ids=["3000", "1100-at-1024-files", "1100-at-1024-files-no-other-cap"])
def test_a_normal_client_is_answered_while_idle_half_requests_fill_the_server(swap_root, tmp_path, attackers,
                                                                               open_files, max_connections):
    _room_for(attackers)
    log = tmp_path / "server.log"
    started = time.monotonic()
    with open(log, "w") as err:
        server = popen([sys.executable, "-c", SERVER, str(TESTS), str(swap_root), str(HEADER_DEADLINE_S),
                        str(max_connections)],
                       then=_limit_open_files(open_files), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=err, text=True)
    held: list[socket.socket] = []
    try:
        line = server.stdout.readline()
        assert line, log.read_text()
        base, cap = line.split()[0], int(line.split()[1])
        address = ("127.0.0.1", int(base.rsplit(":", 1)[1]))
        assert cap < attackers  # the attack fills the cap

        # A client in the middle of an upload (headers complete, body on its way) when the attack starts.
        body = json.dumps(payload()).encode()
        uploading = socket.create_connection(address)
        uploading.sendall(b"POST /v2/faceswap-v3 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body[:100])
        for _ in range(attackers):
            sock = socket.create_connection(address)
            sock.sendall(HALF_REQUEST)
            held.append(sock)

        answer = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=60)
        attackers_held = sum(_still_open(sock) for sock in held)
        assert answer.status_code == 200, answer.text
        # answered while the server was full of attackers (it made room for this client alone), not after
        # they were reaped; the client mid-upload was never taken for an idle one
        assert cap - 2 <= attackers_held <= cap - 1, (attackers_held, cap)
        assert all(_still_open(sock) for sock in held[-(cap - 2):])
        uploading.sendall(body[100:])
        assert _status(uploading) == 200
    finally:
        for sock in held:
            sock.close()
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    text = log.read_text()
    assert "out of system resource" not in text and "Too many open files" not in text, text[-2000:]
    # logged once per interval (LOG_INTERVAL_S), however many connections made room
    intervals = 1 + int((time.monotonic() - started) // LOG_INTERVAL_S)
    assert 1 <= text.count("closed connections waiting longest for a request") <= intervals, text[-2000:]


def test_the_default_header_deadline_is_seconds_not_a_minute():
    """Connections that never finish their headers are reaped within seconds (README: 10 s)."""
    assert ConnectionLimits().header_timeout_s == 10.0
