"""What a new user meets in the first hour, checked without ComfyUI: a refused API key is named (which key
was sent, never the key itself). The page itself (templates, widths, overlaps, toasts) is
tests/test_comfyui_browser.py's job; missing models, tests/test_missing_models.py's."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from server_harness import http_server
from faceswap_v3.client.segmind_client import RemoteError
from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
from faceswap_v3.pipeline.options import API_PARAMETERS, DEFAULTS

ENV_KEY = "env-key-0123456789-WXYZ"
TYPED_KEY = "typed-key-0123456789-ABCD"


class RefusesEveryKey(BaseHTTPRequestHandler):
    """An API that answers 401 to every request and records the keys it was sent."""

    keys: list = []

    def do_POST(self):
        self.keys.append(self.headers.get("x-api-key"))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"error": "invalid api key"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_api():
    RefusesEveryKey.keys = []
    with http_server(RefusesEveryKey) as base:
        yield base


def swap(base_url: str, api_key: str = "") -> None:
    """The hosted node with URLs for both images (nothing to upload): one POST to base_url."""
    api = {name: DEFAULTS[name] for name in API_PARAMETERS}
    SegmindRemoteSwap().swap("sync", "upload", base_url, source_url=f"{base_url}/s.jpg",
                             target_url=f"{base_url}/t.jpg", storage_url=base_url, api_key=api_key, **api)


def test_a_refused_typed_key_is_named_as_the_typed_one_while_the_environment_key_is_set(refusing_api, monkeypatch):
    monkeypatch.setenv("SEGMIND_API_KEY", ENV_KEY)
    monkeypatch.setenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", "1")
    with pytest.raises(RemoteError) as refused:
        swap(refusing_api, api_key=TYPED_KEY)
    message = str(refused.value)
    assert RefusesEveryKey.keys == [TYPED_KEY]
    assert f"{refusing_api} refused the API key from the node's api_key widget (ending in ...ABCD)" in message
    assert "clear the api_key widget to use SEGMIND_API_KEY" in message
    assert "set SEGMIND_API_KEY" not in message and TYPED_KEY not in message and ENV_KEY not in message
    assert refused.value.status == 401


def test_a_refused_environment_key_is_named_as_the_environments(refusing_api, monkeypatch):
    monkeypatch.setenv("SEGMIND_API_KEY", ENV_KEY)
    monkeypatch.setenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", "1")
    with pytest.raises(RemoteError) as refused:
        swap(refusing_api)
    assert RefusesEveryKey.keys == [ENV_KEY]
    message = str(refused.value)
    assert f"{refusing_api} refused the API key from the SEGMIND_API_KEY environment variable (ending in ...WXYZ)" \
        in message and ENV_KEY not in message


def test_a_refused_key_file_is_named_by_its_path(refusing_api, monkeypatch, tmp_path):
    key_file = tmp_path / "api_key"
    key_file.write_text(ENV_KEY + "\n")
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    monkeypatch.setenv("SEGMIND_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", "1")
    with pytest.raises(RemoteError, match=f"refused the API key from the key file {key_file} "):
        swap(refusing_api)


def test_a_withheld_environment_key_is_not_called_refused(refusing_api, monkeypatch):
    """The environment's key goes only to Segmind unless allowed: a 401 from another server means no key was
    sent, and the message says how to send one."""
    monkeypatch.setenv("SEGMIND_API_KEY", ENV_KEY)
    monkeypatch.delenv("SEGMIND_ALLOW_CUSTOM_BASE_URL", raising=False)
    with pytest.raises(RemoteError) as refused:
        swap(refusing_api)
    message = str(refused.value)
    assert RefusesEveryKey.keys == [None]
    assert message.startswith(f"{refusing_api} asked for an API key and none was sent")
    assert "SEGMIND_ALLOW_CUSTOM_BASE_URL=1" in message and "refused the API key" not in message


def test_a_short_key_shows_no_characters_of_itself(refusing_api, monkeypatch):
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    with pytest.raises(RemoteError) as refused:
        swap(refusing_api, api_key="short-key")
    assert "refused the API key from the node's api_key widget:" in str(refused.value)
    assert "ending in" not in str(refused.value)
