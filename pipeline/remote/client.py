"""A client for the Faceswap V3 API (Segmind's, or our own server): sync and async, with retries.

Sync: POST {base}/v1/faceswap-v3 -> image bytes (or base64 JSON).
Async: POST {base}/v2/faceswap-v3 -> {request_id, status_url, response_url}; poll status_url until
COMPLETED or FAILED; GET response_url -> {status, output, metrics}; output is a URL (or base64).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import BadInput, FaceswapError
from ..http_fetch import read_capped
from .api_key import redact

RETRY_STATUSES = (429, 502, 503, 504)
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class RemoteError(FaceswapError):
    """The API answered with an error, or could not be reached; status is the HTTP status if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RemoteCancelled(FaceswapError):
    """Polling stopped because the user cancelled."""


@dataclass
class RemoteResult:
    image: bytes
    remaining_credits: str | None = None
    request_id: str | None = None
    metrics: dict = field(default_factory=dict)


@dataclass
class RemoteConfig:
    base_url: str = "https://api.segmind.com"
    storage_url: str = "https://workflows-api.segmind.com"
    api_key: str | None = None
    poll_interval_s: float = 1.0
    deadline_s: float = 600.0
    request_timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_response_bytes: int = MAX_RESPONSE_BYTES


class FaceswapClient:
    """Talks the Faceswap V3 protocol. on_poll(state, elapsed_s) is called at each status poll;
    should_cancel() is checked between polls and retries."""

    def __init__(self, config: RemoteConfig, on_poll: Callable[[str, float], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None, sleep: Callable[[float], None] = time.sleep):
        import httpx

        self.config = config
        self.on_poll, self.should_cancel, self.sleep = on_poll, should_cancel, sleep
        headers = {"x-api-key": config.api_key} if config.api_key else {}
        self._http = httpx.Client(headers=headers, timeout=config.request_timeout_s, follow_redirects=True)
        self._deadline = float("inf")
        self.remaining_credits: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "FaceswapClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the protocol -------------------------------------------------------------------------
    def swap_sync(self, payload: dict) -> RemoteResult:
        self._start()
        status, headers, body = self._request("POST", self._url("/v1/faceswap-v3"), json=payload)
        image = self._image_from_sync(headers, body)
        return RemoteResult(image=image, remaining_credits=self.remaining_credits)

    def swap_async(self, payload: dict) -> RemoteResult:
        self._start()
        _, _, body = self._request("POST", self._url("/v2/faceswap-v3"), json=payload)
        submitted = self._json(body, "submit")
        try:
            request_id, status_url, response_url = (submitted[k] for k in ("request_id", "status_url", "response_url"))
        except KeyError:
            raise RemoteError(f"the API's submit answer lacks request_id/status_url/response_url: {sorted(submitted)}")
        started = time.monotonic()
        while True:
            self._check_cancel()
            status = self._json(self._request("GET", status_url, terminal_ok=True)[2], "status")
            state = status.get("status", "?")
            if self.on_poll:
                self.on_poll(state, time.monotonic() - started)
            if state == "COMPLETED":
                break
            if state == "FAILED":
                raise RemoteError(f"the swap failed on the server: {status.get('error') or 'no reason given'}", 422)
            if time.monotonic() + self.config.poll_interval_s > self._deadline:
                raise RemoteError(f"request {request_id} did not finish within {self.config.deadline_s:.0f} s "
                                  f"(last state {state}); raise the deadline or try again later")
            self.sleep(self.config.poll_interval_s)
        result = self._json(self._request("GET", response_url, terminal_ok=True, what="result")[2], "result")
        image = self._image_from_output(result.get("output"))
        return RemoteResult(image=image, remaining_credits=self.remaining_credits, request_id=request_id,
                            metrics=result.get("metrics") or {})

    def upload_asset(self, data: bytes, content_type: str) -> str:
        """Upload image bytes to the storage endpoint; returns the asset's URL."""
        self._start()
        data_url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
        _, _, body = self._request("POST", self.config.storage_url.rstrip("/") + "/upload-asset",
                                   json={"data_urls": [data_url]})
        urls = self._json(body, "upload").get("file_urls") or []
        if not urls:
            raise RemoteError("the asset upload answered without a file URL")
        return urls[0]

    # --- plumbing -----------------------------------------------------------------------------
    def _start(self) -> None:
        self._deadline = time.monotonic() + self.config.deadline_s

    def _url(self, path: str) -> str:
        return self.config.base_url.rstrip("/") + path

    def _check_cancel(self) -> None:
        if self.should_cancel and self.should_cancel():
            raise RemoteCancelled("cancelled while waiting for the Faceswap V3 API")

    def _request(self, method: str, url: str, terminal_ok: bool = False, what: str = "request", **kwargs):
        """One call with retries on 429/502/503/504 and transport errors; returns (status, headers, body)."""
        import httpx

        attempt = 0
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise RemoteError(f"no answer from {self._safe(url)} within the {self.config.deadline_s:.0f} s deadline")
            try:
                status, headers, body = self._send(method, url, min(remaining, self.config.request_timeout_s), **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.config.max_retries or self._deadline - time.monotonic() <= 0:
                    raise RemoteError(f"could not reach {self._safe(url)}: {type(exc).__name__} "
                                      f"{self._safe(str(exc))}".rstrip()) from None
                attempt += 1
                self._wait_before_retry(attempt, None)
                continue
            if "x-remaining-credits" in headers:
                self.remaining_credits = headers["x-remaining-credits"]
            if status in RETRY_STATUSES and attempt < self.config.max_retries:
                attempt += 1
                self._wait_before_retry(attempt, headers.get("retry-after"))
                continue
            if 200 <= status < 300 or (terminal_ok and status == 422):
                return status, headers, body
            raise self._error(status, body, what)

    def _send(self, method: str, url: str, timeout: float, **kwargs):
        with self._http.stream(method, url, timeout=timeout, **kwargs) as response:
            body = read_capped(response, self.config.max_response_bytes, f"the answer of {self._safe(url)}",
                               RemoteError)
            return response.status_code, response.headers, body

    def _wait_before_retry(self, attempt: int, retry_after: str | None) -> None:
        delay = self.config.backoff_s * 2 ** (attempt - 1)
        if retry_after:
            try:
                delay = max(0.0, float(retry_after))
            except ValueError:
                pass
        delay = min(delay, 60.0, max(0.0, self._deadline - time.monotonic()))
        self._check_cancel()
        self.sleep(delay)
        self._check_cancel()

    def _error(self, status: int, body: bytes, what: str) -> RemoteError:
        detail = self._detail(body)
        messages = {
            400: f"the API rejected the request: {detail}",
            401: "the Segmind API key is missing or wrong: set SEGMIND_API_KEY (or a key file) to a valid key",
            403: f"the API key may not use this model: {detail}",
            404: ("the result has expired (results are kept one hour) or the request id is unknown"
                  if what == "result" else f"not found: {detail}"),
            406: "the Segmind account is out of credits: top it up, then try again",
            422: f"the swap failed on the server: {detail}",
            429: "the API is rate-limiting this key and kept doing so after retries; try again later",
        }
        message = messages.get(status, f"the API answered HTTP {status}: {detail}")
        return RemoteError(self._safe(message), status)

    @staticmethod
    def _detail(body: bytes) -> str:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("error"):
                return str(data["error"])
        except (ValueError, UnicodeDecodeError):
            pass
        text = body[:200].decode("utf-8", "replace").strip()
        return f"(not JSON) {text!r}" if text else "(empty body)"

    def _json(self, body: bytes, what: str) -> dict:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RemoteError(f"the API's {what} answer is not JSON: {body[:120]!r}") from None
        if not isinstance(data, dict):
            raise RemoteError(f"the API's {what} answer is not a JSON object")
        return data

    def _image_from_sync(self, headers, body: bytes) -> bytes:
        if headers.get("content-type", "").startswith("application/json"):
            return self._image_from_output(self._json(body, "sync").get("image"))
        return body

    def _image_from_output(self, output) -> bytes:
        if isinstance(output, list) and output:
            output = output[0]
        if not isinstance(output, str) or not output:
            raise RemoteError(f"the API's result has no image output (got {type(output).__name__})")
        if output.lower().startswith(("http://", "https://")):
            return self._request("GET", output, what="output image")[2]
        try:
            return base64.b64decode(output.split(",", 1)[-1] if output.startswith("data:") else output, validate=True)
        except ValueError:
            raise BadInput("the API's output is neither a URL nor base64") from None

    def _safe(self, text: str) -> str:
        return redact(text, self.config.api_key)
