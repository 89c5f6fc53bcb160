"""A client for the Faceswap V3 API (Segmind's, or our own server): sync and async, with safe retries.

Sync: POST {base}/v1/faceswap-v3 -> image bytes (or base64 JSON).
Async: POST {base}/v2/faceswap-v3 -> {request_id, status_url, response_url}; poll status_url until
COMPLETED or FAILED; GET response_url -> {status, output, metrics}; output is a URL (or base64).

Two rules no answer can bend:
- A POST is billed work: it is sent again only when it provably never reached the server (the
  connection was never made) or when the server said 429 (rate limited, nothing run). GETs may retry.
- The API key travels per request, only to the origins it was chosen for (see api_key.choose_key);
  redirects are followed by hand so that a hop to another origin never carries it.
- Every URL an answer hands us (status, response and output URLs, redirects, uploads) is fetched only
  when it is on a configured origin (base_url, storage_url) or resolves to public addresses, and then
  from the checked address itself: a workflow's API cannot point the client into the user's network.
  No error quotes an answer's body.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Callable

from ..net.capped_body import ACCEPT_ENCODING, read_capped
from ..net.http_fetch import pinned_request, redirect_location
from ..net.url_guard import PRIVATE_URLS_HINT, parse_url, resolve_allowed, quoted_url, user_url_policy
from ..pipeline.errors import BadInput, FaceswapError
from ..pipeline.job_contract import COMPLETED, FAILED
from .api_key import OFFICIAL_BASE_URL, OFFICIAL_STORAGE_URL, origin, redact

GET_RETRY_STATUSES = (429, 502, 503, 504)
POST_RETRY_STATUSES = (429,)
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_RETRY_WAIT_S = 60.0


class RemoteError(FaceswapError):
    """The API answered with an error or something malformed, or could not be reached; status is the
    HTTP status if any. Not BadInput: the request itself may have been fine."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RemoteRejected(RemoteError, BadInput):
    """The API refused the request (400) or the swap job failed on its inputs (422)."""


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
    """key_origins: the (scheme, host, port) origins api_key may be sent to; None means base_url's and
    storage_url's. key_withheld_hint: appended to a 401/403 (why the user's stored key was not sent)."""

    base_url: str = OFFICIAL_BASE_URL
    storage_url: str = OFFICIAL_STORAGE_URL
    api_key: str | None = None
    poll_interval_s: float = 1.0
    deadline_s: float = 600.0
    request_timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_redirects: int = 5
    key_origins: tuple[tuple[str, str, int], ...] | None = None
    key_withheld_hint: str | None = None


class FaceswapClient:
    """Talks the Faceswap V3 protocol. on_poll(state, elapsed_s) is called at each status poll;
    should_cancel() is checked between polls and retries; sleep is injectable for tests."""

    def __init__(self, config: RemoteConfig, on_poll: Callable[[str, float], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None, sleep: Callable[[float], None] = time.sleep):
        import httpx

        self.config = config
        self.on_poll, self.should_cancel, self.sleep = on_poll, should_cancel, sleep
        origins = config.key_origins
        if origins is None:
            origins = (origin(config.base_url), origin(config.storage_url))
        self._key_origins = frozenset(origins) if config.api_key else frozenset()
        self._configured_origins = frozenset({origin(config.base_url), origin(config.storage_url), *origins})
        # No client-wide key header and no automatic redirects: _send decides per request.
        self._http = httpx.Client(timeout=config.request_timeout_s, follow_redirects=False)
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
        _, headers, body = self._request("POST", self._url("/v1/faceswap-v3"), json=payload)
        image = self._image_from_sync(headers, body)
        return RemoteResult(image=image, remaining_credits=self.remaining_credits)

    def swap_async(self, payload: dict) -> RemoteResult:
        self._start()
        _, _, body = self._request("POST", self._url("/v2/faceswap-v3"), json=payload)
        submitted = self._json(body, "submit")
        try:
            request_id, status_url, response_url = (submitted[k] for k in ("request_id", "status_url", "response_url"))
        except KeyError:
            raise RemoteError(f"the API's submit answer lacks request_id/status_url/response_url: "
                              f"{sorted(submitted)}") from None
        status_url = self._answered_url(status_url, "status_url")
        response_url = self._answered_url(response_url, "response_url")
        started = time.monotonic()
        while True:
            self._check_cancel()
            status = self._json(self._request("GET", status_url, terminal_ok=True)[2], "status")
            state = status.get("status", "?")
            if self.on_poll:
                self.on_poll(state, time.monotonic() - started)
            if state == COMPLETED:
                break
            if state == FAILED:
                raise RemoteRejected(self._safe(f"the swap failed on the server: "
                                                f"{status.get('error') or 'no reason given'}"), 422)
            if time.monotonic() + self.config.poll_interval_s > self._deadline:
                raise RemoteError(f"request {request_id} did not finish within {self.config.deadline_s:.0f} s "
                                  f"(last state {state}); raise the deadline or try again later")
            self.sleep(self.config.poll_interval_s)
        result = self._json(self._request("GET", response_url, terminal_ok=True, what="result")[2], "result")
        if result.get("status") == FAILED:
            raise RemoteRejected(self._safe(f"the swap failed on the server: {result.get('error') or 'no reason given'}"),
                                 422)
        image = self._image_from_output(result.get("output"))
        return RemoteResult(image=image, remaining_credits=self.remaining_credits, request_id=request_id,
                            metrics=result.get("metrics") or {})

    def upload_asset(self, data: bytes, content_type: str) -> str:
        """Upload image bytes to the storage endpoint; returns the asset's URL."""
        self._start()
        data_url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
        _, _, body = self._request("POST", self.config.storage_url.rstrip("/") + "/upload-asset",
                                   json={"data_urls": [data_url]}, what="upload")
        urls = self._json(body, "upload").get("file_urls") or []
        if not urls:
            raise RemoteError("the asset upload answered without a file URL")
        return self._answered_url(urls[0], "file_urls[0]")

    # --- plumbing -----------------------------------------------------------------------------
    def _start(self) -> None:
        self._deadline = time.monotonic() + self.config.deadline_s

    def _url(self, path: str) -> str:
        return self.config.base_url.rstrip("/") + path

    def _check_cancel(self) -> None:
        if self.should_cancel and self.should_cancel():
            raise RemoteCancelled("cancelled while waiting for the Faceswap V3 API")

    def _answered_url(self, url, what: str) -> str:
        """A URL the API handed us, checked to be http(s) (a malformed answer is the API's fault)."""
        try:
            if not isinstance(url, str):
                raise BadInput(what)
            origin(url)
        except BadInput:
            shown = quoted_url(url) if isinstance(url, str) else f"a JSON {type(url).__name__}"
            raise RemoteError(f"the API's {what} is not an http(s) URL: {self._safe(shown)}") from None
        return url

    def _connection(self, url: str) -> dict:
        """httpx request arguments for url: as is on a configured origin, else pinned to the public
        address its host resolves to (RemoteError naming the URL when it resolves to any other)."""
        target = parse_url(url, "URL")
        if target.origin in self._configured_origins:
            return {"url": url, "headers": dict(ACCEPT_ENCODING)}
        try:
            address = resolve_allowed(target, user_url_policy())
        except BadInput:
            raise RemoteError(self._safe(
                f"the API pointed to {quoted_url(url)}, which is neither on the configured base_url/storage_url "
                "nor a public address (or does not resolve); refused, so that an answer cannot reach into your "
                f"network ({PRIVATE_URLS_HINT})")) from None
        request = pinned_request(target, address, headers={})
        del request["method"]
        return request

    def _request(self, method: str, url: str, terminal_ok: bool = False, what: str = "request", **kwargs):
        """One call, retried only where that cannot bill twice; returns (status, headers, body)."""
        import httpx

        retry_statuses = POST_RETRY_STATUSES if method == "POST" else GET_RETRY_STATUSES
        attempt = 0
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise RemoteError(f"no answer from {self._safe(url)} within the {self.config.deadline_s:.0f} s deadline")
            try:
                status, headers, body = self._send(method, url, min(remaining, self.config.request_timeout_s), **kwargs)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                may_retry = method != "POST" or never_sent
                if may_retry and attempt < self.config.max_retries and self._deadline - time.monotonic() > 0:
                    attempt += 1
                    self._wait_before_retry(attempt, None)
                    continue
                raise self._transport_error(method, url, exc, never_sent) from None
            if "x-remaining-credits" in headers:
                self.remaining_credits = headers["x-remaining-credits"]
            if status in retry_statuses and attempt < self.config.max_retries:
                attempt += 1
                self._wait_before_retry(attempt, headers.get("retry-after"))
                continue
            if 200 <= status < 300 or (terminal_ok and status == 422):
                return status, headers, body
            raise self._error(method, status, body, what)

    def _send(self, method: str, url: str, timeout: float, **kwargs):
        """One request; a GET follows up to max_redirects hops, each hop getting the key only if its
        origin is one the key was chosen for. A POST is never redirected (it may be billed)."""
        import httpx

        for _ in range(self.config.max_redirects + 1):
            connection = self._connection(url)
            connection["headers"].update(self._key_header(url))
            try:
                with self._http.stream(method, timeout=timeout, **connection, **kwargs) as response:
                    target = redirect_location(response, url)
                    if target is None:
                        body = read_capped(response, self.config.max_response_bytes,
                                           f"the answer of {self._safe(url)}", RemoteError)
                        return response.status_code, response.headers, body
                    if method != "GET":
                        raise RemoteError(f"the API answered {method} {self._safe(url)} with a redirect to "
                                          f"{self._safe(target)} (HTTP {response.status_code}); set the address to "
                                          "the one it redirects to", response.status_code)
            except httpx.InvalidURL:  # our URLs are checked: httpx met a redirect to something that is not one
                raise RemoteError(f"the API answered {method} {self._safe(url)} with a redirect to something that is "
                                  "not an http(s) URL") from None
            url = self._answered_url(target, "redirect location")
        raise RemoteError(f"more than {self.config.max_redirects} redirects from {self._safe(url)}")

    def _key_header(self, url: str) -> dict[str, str]:
        try:
            allowed = origin(url) in self._key_origins
        except BadInput:
            allowed = False
        return {"x-api-key": self.config.api_key} if allowed and self.config.api_key else {}

    def _wait_before_retry(self, attempt: int, retry_after: str | None) -> None:
        delay = self.config.backoff_s * 2 ** (attempt - 1)
        parsed = _retry_after_s(retry_after)
        if parsed is not None:
            delay = parsed
        delay = min(delay, MAX_RETRY_WAIT_S, max(0.0, self._deadline - time.monotonic()))
        self._check_cancel()
        self.sleep(delay)
        self._check_cancel()

    def _transport_error(self, method: str, url: str, exc: Exception, never_sent: bool) -> RemoteError:
        reason = f"{type(exc).__name__} {self._safe(str(exc))}".rstrip()
        if method == "POST" and not never_sent:
            return RemoteError(f"no complete answer from {self._safe(url)} after the request was sent ({reason}); "
                               "not retried, because the API may have run and billed it. Check your results and "
                               "credits before trying again")
        return RemoteError(f"could not reach {self._safe(url)}: {reason}")

    def _error(self, method: str, status: int, body: bytes, what: str) -> RemoteError:
        detail = self._detail(body)
        hint = f"; {self.config.key_withheld_hint}" if self.config.key_withheld_hint else ""
        messages = {
            400: f"the API rejected the request: {detail}",
            401: f"the Segmind API key is missing or wrong: set SEGMIND_API_KEY (or a key file) to a valid key{hint}",
            403: f"the API key may not use this model: {detail}{hint}",
            404: ("the result has expired (results are kept one hour) or the request id is unknown"
                  if what == "result" else f"not found: {detail}"),
            406: "the Segmind account is out of credits: top it up, then try again",
            422: f"the swap failed on the server: {detail}",
            429: "the API is rate-limiting this key and kept doing so after retries; try again later",
        }
        message = messages.get(status, f"the API answered HTTP {status}: {detail}")
        if method == "POST" and status >= 500:
            message += "; not retried, because the API may have run and billed it"
        error_class = RemoteRejected if status in (400, 422) else RemoteError
        return error_class(self._safe(message), status)

    @staticmethod
    def _detail(body: bytes) -> str:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("error"):
                return str(data["error"])
        except (ValueError, UnicodeDecodeError):
            pass
        return f"(an answer of {len(body)} bytes that is not JSON with an error field)" if body else "(empty body)"

    def _json(self, body: bytes, what: str) -> dict:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RemoteError(f"the API's {what} answer is not JSON ({len(body)} bytes)") from None
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
            return self._request("GET", self._answered_url(output, "output"), what="output image")[2]
        try:
            return base64.b64decode(output.split(",", 1)[-1] if output.startswith("data:") else output, validate=True)
        except ValueError:
            raise RemoteError("the API's output is neither an http(s) URL nor base64") from None

    def _safe(self, text: str) -> str:
        return redact(text, self.config.api_key)


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
