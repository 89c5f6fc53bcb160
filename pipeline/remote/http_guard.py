"""The server's front door: error mapping, the API key, and what protects it from web pages a user
visits (JSON only, no foreign Origin, absolute URLs from configuration or the bound socket, never from
the Host header)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from urllib.parse import urlsplit

from aiohttp import web

from ..errors import BadInput
from .limits import Busy

log = logging.getLogger("faceswap_v3.server")
# Outputs and assets are images: never sniffed into HTML, never run as a document.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                "Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}
JSON_TYPES = ("application/json",)


def error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class ServerAddress:
    """Where this server is reached: --public-url when given, else the address of the socket the
    request came in on (what the client connected to; its Host header only when it names that)."""

    def __init__(self, public_url: str | None = None) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None

    def base_url(self, request: web.Request) -> str:
        """--public-url; else the name the client used when it is one of ours (localhost for a loopback
        socket), so its key still goes to the same origin; else the socket's address."""
        if self.public_url:
            return self.public_url
        named = f"http://{request.host.lower()}" if request.host else None
        return named if named in self.own_origins(request) else self._socket_origin(request)

    def own_origins(self, request: web.Request) -> set[str]:
        origins = {self._socket_origin(request)}
        if self.public_url:
            origins.add(origin_of(self.public_url))
        sockname = self._sockname(request)
        if sockname and ipaddress.ip_address(sockname[0].split("%")[0]).is_loopback:
            origins.add(f"http://localhost:{sockname[1]}")
        return origins

    @staticmethod
    def _sockname(request: web.Request):
        transport = request.transport
        return transport.get_extra_info("sockname") if transport is not None else None

    def _socket_origin(self, request: web.Request) -> str:
        sockname = self._sockname(request)
        if not sockname:
            return "http://127.0.0.1"
        host = sockname[0].split("%")[0]
        return f"http://[{host}]:{sockname[1]}" if ":" in host else f"http://{host}:{sockname[1]}"


def errors_middleware(max_body_bytes: int):
    @web.middleware
    async def handle_errors(request: web.Request, handler):
        try:
            response = await handler(request)
        except web.HTTPRequestEntityTooLarge:
            response = error(400, f"request body is larger than {max_body_bytes} bytes; send image URLs "
                                  "or smaller images")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = error(exc.status, exc.reason)
        except BadInput as exc:
            response = error(400, str(exc))
        except Busy as exc:
            response = error(429, str(exc), {"Retry-After": str(exc.retry_after_s)})
        except Exception:  # noqa: BLE001 - the server must keep serving; details stay in the log
            log.exception("request %s %s failed", request.method, request.path)
            response = error(500, "internal error; see the server log")
        for key, value in SAFE_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    return handle_errors


def auth_middleware(api_key: str | None):
    expected = api_key.encode() if api_key else None

    @web.middleware
    async def check_key(request: web.Request, handler):
        if expected is not None:
            given = request.headers.get("x-api-key", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                return error(401, "missing or invalid API key (x-api-key header)")
        return await handler(request)

    return check_key


def browser_middleware(address: ServerAddress):
    """Refuse what a web page could send on a visitor's behalf: a foreign Origin, or a POST that is
    not JSON (a form or text/plain POST needs no CORS preflight)."""

    @web.middleware
    async def check_browser(request: web.Request, handler):
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in address.own_origins(request):
            return error(403, "cross-origin requests are not accepted (the Origin header names another site)")
        if request.method == "POST" and request.content_type not in JSON_TYPES:
            return error(400, "send the request body as JSON with Content-Type: application/json")
        return await handler(request)

    return check_browser
