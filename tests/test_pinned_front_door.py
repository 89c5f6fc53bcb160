"""Pinned behaviours of the server's front door (issue 28): the body cap's exact boundary, chunked bodies in
the buffered-bytes budget, the idle and body deadlines apart, `localhost` as an origin, the early full-queue
refusal, the asset URL's origin, and the capped reader of downloads. Real loopback servers and sockets; each
test fails when its rule changes (the mutations it was checked against are named in the report of issue 28)."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import threading
import time
import tracemalloc
import zlib

import httpx
import pytest

from server_harness import Gate, Listener, b64, make_server, payload, png_bytes, running
from faceswap_v3.net.capped_body import CappedBody
from faceswap_v3.net.url_guard import ANY_ADDRESS
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.server.admission import ServerLimits
from faceswap_v3.server.connection_guard import ConnectionLimits

POST_HEAD = "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def _host_port(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _answer_of(sock: socket.socket, timeout_s: float = 10.0) -> bytes:
    """What the server sends on sock until it closes it or goes quiet for timeout_s."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            data += got
            if b"\r\n\r\n" in data and b'"}' in data:
                break
    except (socket.timeout, OSError):
        pass
    return data


def _raw_post(base: str, body: bytes, chunked: bool, path: str = "/v2/faceswap-v3") -> bytes:
    """POST body on a fresh socket (declared with Content-Length, or chunked in 64 KB chunks); the answer."""
    with socket.create_connection(_host_port(base)) as sock:
        if chunked:
            sock.sendall((POST_HEAD.format(path=path) + "Transfer-Encoding: chunked\r\n\r\n").encode())
            for start in range(0, len(body), 65536):
                part = body[start:start + 65536]
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        else:
            sock.sendall((POST_HEAD.format(path=path) + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
        return _answer_of(sock)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _padded(cap: int) -> bytes:
    """A valid request body of exactly cap bytes (JSON padded with trailing spaces)."""
    body = json.dumps(payload()).encode()
    assert len(body) < cap
    return body + b" " * (cap - len(body))


# --- the body cap: exactly the cap is accepted, one byte more refused --------------------------------------
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_cap_is_accepted_and_one_byte_more_refused(swap_root, chunked):
    cap = 120_000
    with running(make_server(swap_root, max_body_bytes=cap)) as base:
        at_cap = _raw_post(base, _padded(cap), chunked)
        over = _raw_post(base, _padded(cap) + b" ", chunked)
    assert _status(at_cap) == 200, at_cap[:300]
    assert _status(over) == 400 and f"request body is larger than {cap} bytes".encode() in over


# --- chunked bodies count against the bytes buffered across requests ----------------------------------------
def test_a_chunked_body_being_read_holds_its_bytes_in_the_buffered_budget(swap_root):
    limits = ConnectionLimits(max_buffered_bytes=1_000_000, body_timeout_s=30.0)
    with running(make_server(swap_root, connections=limits)) as base:
        slow = socket.create_connection(_host_port(base))
        slow.sendall((POST_HEAD.format(path="/v2/faceswap-v3") + "Transfer-Encoding: chunked\r\n\r\n").encode())
        for _ in range(14):  # 14 chunks of 64 KB, the last chunk never sent: 917 KB held while it is read
            slow.sendall(b"10000\r\n" + b" " * 65536 + b"\r\n")
        filler = b" " * 200_000  # not JSON: a 400 once read, a 429 when there is no room to read it
        answers = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the server has read the slow body's chunks
            answers.append(_status(_raw_post(base, filler, chunked=False)))
            if answers[-1] == 429:
                break
            time.sleep(0.05)
        slow.close()
        after = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the server has seen the slow client go
            after.append(_status(_raw_post(base, filler, chunked=False)))
            if after[-1] == 400:
                break
            time.sleep(0.05)
    assert answers[-1] == 429, f"the chunked body's bytes were never counted: {answers[-5:]}"
    assert set(answers[:-1]) <= {400} and after[-1] == 400


# --- the idle (header) deadline and the body deadline act separately -------------------------------------------
def _open_idle_and_endless(base: str) -> tuple[socket.socket, socket.socket, threading.Event]:
    """An idle connection (nothing sent) and one whose chunked body never ends (a chunk every 100 ms)."""
    idle = socket.create_connection(_host_port(base))
    endless = socket.create_connection(_host_port(base))
    endless.sendall((POST_HEAD.format(path="/v2/faceswap-v3") + "Transfer-Encoding: chunked\r\n\r\n").encode())
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.1):
            try:
                endless.send(b"1\r\n \r\n")
            except OSError:
                return

    threading.Thread(target=trickle, daemon=True).start()
    return idle, endless, stop


def _is_closed(sock: socket.socket) -> bool:
    """Whether the peer has closed sock (without waiting); an answer it sent first is read and dropped."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def _first_closed(socks: dict[str, socket.socket], timeout_s: float = 20.0) -> tuple[str, dict[str, bool]]:
    """The name of the first socket the server closes, and which others were closed at that moment."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        closed = {name: _is_closed(sock) for name, sock in socks.items()}
        if any(closed.values()):
            return next(name for name, c in closed.items() if c), closed
        time.sleep(0.02)
    return "", {}


def test_a_short_idle_deadline_closes_the_idle_connection_and_leaves_a_body_being_read(swap_root):
    limits = ConnectionLimits(header_timeout_s=0.5, body_timeout_s=60.0)
    with running(make_server(swap_root, connections=limits)) as base:
        idle, endless, stop = _open_idle_and_endless(base)
        try:
            first, closed = _first_closed({"idle": idle, "endless": endless})
        finally:
            stop.set()
            idle.close()
            endless.close()
    assert first == "idle" and closed == {"idle": True, "endless": False}


def test_a_short_body_deadline_answers_408_and_leaves_the_idle_connection(swap_root):
    limits = ConnectionLimits(header_timeout_s=60.0, body_timeout_s=0.5)
    with running(make_server(swap_root, connections=limits)) as base:
        idle, endless, stop = _open_idle_and_endless(base)
        try:
            endless.settimeout(20)
            answer = endless.recv(65536)
            first, closed = _first_closed({"idle": idle, "endless": endless})
        finally:
            stop.set()
            idle.close()
            endless.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in answer
    assert first == "endless" and closed == {"idle": False, "endless": True}


# --- localhost is this server's own origin only on a loopback socket ----------------------------------------
class _Transport:
    """What aiohttp's request asks of its transport: the socket's own address."""

    def __init__(self, sockname: tuple) -> None:
        self.sockname = sockname

    def get_extra_info(self, name: str, default=None):
        return self.sockname if name == "sockname" else default


def _request(sockname: tuple, headers: dict):
    from aiohttp.test_utils import make_mocked_request

    return make_mocked_request("POST", "/v2/faceswap-v3", headers={"Content-Type": "application/json", **headers},
                               transport=_Transport(sockname))


@pytest.mark.parametrize("socket_host, localhost_is_own", [("127.0.0.1", True), ("::1", True),
                                                           ("192.0.2.10", False), ("2001:db8::7", False)])
def test_localhost_is_an_own_origin_only_on_a_loopback_socket(socket_host, localhost_is_own):
    """A socket on a network address: a page on http://localhost:PORT is another site (a browser on the
    client's machine), so its Origin is refused and the Host header localhost is not echoed in URLs."""
    from faceswap_v3.server.http_guard import ServerAddress, browser_middleware

    address = ServerAddress()
    check = browser_middleware(address)
    shown = f"[{socket_host}]" if ":" in socket_host else socket_host

    async def handler(request):
        from aiohttp import web

        return web.json_response({"base": address.base_url(request)})

    async def scenario():
        by_origin = await check(_request((socket_host, 8188), {"Origin": "http://localhost:8188"}), handler)
        by_host = await check(_request((socket_host, 8188), {"Host": "localhost:8188"}), handler)
        own = await check(_request((socket_host, 8188), {"Origin": f"http://{shown}:8188"}), handler)
        return by_origin, by_host, own

    by_origin, by_host, own = asyncio.run(scenario())
    assert own.status == 200
    if localhost_is_own:
        assert by_origin.status == 200 and json.loads(by_host.body)["base"] == "http://localhost:8188"
    else:
        assert by_origin.status == 403 and b"cross-origin" in by_origin.body
        assert json.loads(by_host.body)["base"] == f"http://{shown}:8188"


def test_localhost_on_the_loopback_socket_is_accepted_as_origin_over_real_http(swap_root):
    with running(make_server(swap_root)) as base:
        port = base.rsplit(":", 1)[1]
        answer = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), headers={"Origin": f"http://localhost:{port}"})
        other_port = httpx.post(f"{base}/v2/faceswap-v3", json=payload(),
                                headers={"Origin": f"http://localhost:{int(port) + 1}"})
    assert answer.status_code == 200 and other_port.status_code == 403


# --- a full queue is refused before any image URL is fetched --------------------------------------------------
def test_a_full_queue_is_refused_before_any_image_url_is_fetched(swap_root):
    gate, listener = Gate(), Listener()
    limits = ServerLimits(max_jobs=1, fetch_timeout_s=1.0)
    try:
        with running(make_server(swap_root, engine=gate, limits=limits, url_policy=ANY_ADDRESS)) as base:
            held = httpx.post(f"{base}/v2/faceswap-v3", json=payload(), timeout=30)
            assert gate.entered.wait(10)
            url = f"http://127.0.0.1:{listener.port}/face.png"
            refused = httpx.post(f"{base}/v2/faceswap-v3", json=payload(source_img=url), timeout=30)
            attempted = listener.connection_attempted()
            gate.open.set()
    finally:
        listener.close()
    assert held.status_code == 200
    assert refused.status_code == 429 and "the queue is full (1 jobs" in refused.json()["error"]
    assert not attempted, "the image URL was fetched although the queue was full"


# --- an asset URL is read from this server's uploads only when it names this server's own origin ---------------
def test_an_asset_path_on_another_origin_is_not_read_from_this_servers_uploads(swap_root):
    listener = Listener()
    limits = ServerLimits(fetch_timeout_s=1.0)
    try:
        with running(make_server(swap_root, limits=limits, url_policy=ANY_ADDRESS)) as base:
            own = httpx.post(f"{base}/upload-asset",
                             json={"data_urls": ["data:image/png;base64," + b64(png_bytes())]}).json()["file_urls"][0]
            name = own.rsplit("/", 1)[1]
            elsewhere = f"http://127.0.0.1:{listener.port}/assets/{name}"
            foreign = httpx.post(f"{base}/v1/faceswap-v3", json=payload(target_img=elsewhere), timeout=30)
            attempted = listener.connection_attempted()
            local = httpx.post(f"{base}/v1/faceswap-v3", json=payload(target_img=own), timeout=30)
    finally:
        listener.close()
    assert local.status_code == 200
    assert foreign.status_code == 400 and attempted, "another origin's /assets/ URL was served from our uploads"


# --- the capped reader of downloads -----------------------------------------------------------------------
def _read(headers: dict, data: bytes, max_bytes: int, chunk: int = 1 << 16) -> bytes:
    body = CappedBody(headers, max_bytes, "the answer", BadInput)
    for start in range(0, len(data), chunk):
        body.feed(data[start:start + chunk])
    return body.finish()


@pytest.mark.parametrize("coding, encode", [("", lambda b: b), ("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_a_body_of_exactly_the_cap_is_read_and_one_byte_more_refused(coding, encode):
    cap = 300_000
    body = os.urandom(cap // 2) + bytes(cap - cap // 2)
    headers = {"content-encoding": coding} if coding else {"content-length": str(cap)}
    assert _read(headers, encode(body), cap) == body
    with pytest.raises(BadInput, match="limit of 300000 bytes"):
        _read({"content-encoding": coding} if coding else {}, encode(body + b"x"), cap)
    if not coding:
        with pytest.raises(BadInput, match="is 300001 bytes; the limit is 300000"):
            CappedBody({"content-length": str(cap + 1)}, cap, "the answer", BadInput)


def test_one_chunk_that_inflates_far_past_the_cap_is_decoded_a_bounded_step_at_a_time():
    """About 93 KB inflating to 96 MB, fed as one chunk with a 256 KB cap: the reader stops once it has decoded
    a step past the cap, so what it allocates is a few MB, never the whole inflated body."""
    bomb = gzip.compress(bytes(96 << 20), 9)
    assert len(bomb) < 256 << 10
    body = CappedBody({"content-encoding": "gzip"}, 256 << 10, "the answer", BadInput)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(BadInput, match="decodes to more than the limit of 262144 bytes"):
            body.feed(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MB allocated while decoding one chunk"


def test_the_compressed_size_is_capped_too_even_when_it_decodes_to_less():
    cap = 200_000
    body = os.urandom(cap - 50)  # does not compress: gzip makes it a little larger than the cap
    packed = gzip.compress(body)
    assert len(packed) > cap
    with pytest.raises(BadInput, match="larger than the limit of 200000 bytes"):
        _read({"content-encoding": "gzip"}, packed, cap)
    assert _read({"content-encoding": "gzip"}, packed, len(packed)) == body
