"""The server's SQLite job table, and the fetch pinned to the address it checked (http and https), without
a server around them."""

from __future__ import annotations

import ipaddress

import pytest

from server_harness import image_host, png_bytes
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.net.http_fetch import pinned_request, fetch_bytes
from faceswap_v3.server.database import Database, DataDirInUse
from faceswap_v3.pipeline.job_contract import COMPLETED, FAILED, PROCESSING, QUEUED
from faceswap_v3.server.job_table import INTERRUPTED_TWICE, JobTable
from faceswap_v3.net.url_guard import ANY_ADDRESS, parse_url


def test_a_job_interrupted_mid_run_is_queued_again_once_then_failed_with_the_reason(tmp_path):
    now = [100.0]
    table = JobTable(lambda: now[0], database=Database(tmp_path))
    job = table.add({"image_format": "png"}, b"source", b"target", pixels=12)
    assert table.start(job.request_id) == ({"image_format": "png"}, b"source", b"target")
    assert table.get(job.request_id).state == PROCESSING
    table.db.close()

    table = JobTable(lambda: now[0], database=Database(tmp_path))  # the server came back
    assert [(j.request_id, j.state, j.pixels, j.input_bytes) for j in table.recover()] == [
        (job.request_id, QUEUED, 12, 12)]
    table.start(job.request_id)
    table.db.close()

    table = JobTable(lambda: now[0], database=Database(tmp_path))  # ...and stopped during it again
    assert table.recover() == []
    failed = table.get(job.request_id)
    assert failed.state == FAILED and failed.error == INTERRUPTED_TWICE


def test_finished_jobs_drop_their_inputs_expire_after_the_ttl_and_are_bounded(tmp_path):
    now = [100.0]
    table = JobTable(lambda: now[0], ttl_s=60, max_results=2, database=Database(tmp_path))
    ids = []
    for i in range(3):
        job = table.add({}, b"s" * 1000, b"t" * 1000, pixels=1)
        table.start(job.request_id)
        now[0] += 1
        table.complete(job.request_id, b"image%d" % i, 0.5, ["a warning"])
        ids.append(job.request_id)
    assert table.get(ids[0]) is None  # the oldest of three went: at most two are kept
    assert table.result(ids[2]) == b"image2" and table.get(ids[2]).warnings == ["a warning"]
    assert table.db.one("SELECT COUNT(*) FROM jobs WHERE source IS NOT NULL")[0] == 0
    now[0] += 59
    assert table.get(ids[2]).state == COMPLETED
    now[0] += 2
    assert table.expire() == 2 and table.get(ids[1]) is None and table.get(ids[2]) is None


def test_the_fetch_connects_to_the_checked_address_naming_the_host_in_host_and_sni():
    target = parse_url("https://images.example.org:8443/a/face.jpg?size=2")
    request = pinned_request(target, ipaddress.ip_address("93.184.216.34"))
    assert str(request["url"]) == "https://93.184.216.34:8443/a/face.jpg?size=2"
    assert request["headers"]["Host"] == "images.example.org:8443"
    assert request["extensions"] == {"sni_hostname": "images.example.org"}
    v6 = pinned_request(parse_url("http://images.example.org/x.png"), ipaddress.ip_address("2606:4700::1"))
    assert str(v6["url"]) == "http://[2606:4700::1]/x.png" and v6["headers"]["Host"] == "images.example.org"


def test_a_host_name_is_resolved_once_and_sent_as_host():
    seen = []

    def record(handler):
        seen.append(handler.headers["Host"])
        body = png_bytes()
        handler.wfile.write(body)

    with image_host("127.0.0.1", {"/face.png": (200, {"Content-Type": "image/png"}, record)}) as host:
        port = host.rsplit(":", 1)[1]
        data, content_type = fetch_bytes(f"http://localhost:{port}/face.png", policy=ANY_ADDRESS)
    assert data == png_bytes() and content_type == "image/png" and seen == [f"localhost:{port}"]


def test_one_server_per_data_directory(tmp_path):
    first = Database(tmp_path)
    with pytest.raises(DataDirInUse, match="another server is using the data directory"):
        Database(tmp_path)
    first.close()
    Database(tmp_path).close()


def test_https_is_pinned_too_the_certificate_is_checked_against_the_host_name(tmp_path, monkeypatch):
    import shutil
    import ssl
    import subprocess
    import threading
    from http.server import ThreadingHTTPServer

    from support import RouteHandler
    from faceswap_v3.net import http_fetch

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    handler = type("Handler", (RouteHandler,), {"routes": {"/face.png": (200, {"Content-Type": "image/png"},
                                                                          png_bytes())}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(http_fetch, "_ssl_context", ssl.create_default_context(cafile=tmp_path / "cert.pem"))
    port = server.server_address[1]
    try:
        # connected to the checked 127.0.0.1, the certificate verified for "localhost"
        assert fetch_bytes(f"https://localhost:{port}/face.png", policy=ANY_ADDRESS)[0] == png_bytes()
        with pytest.raises(BadInput, match="could not be reached or did not answer"):
            fetch_bytes(f"https://127.0.0.1:{port}/face.png", policy=ANY_ADDRESS)  # not the certificate's name
    finally:
        server.shutdown()
        server.server_close()
