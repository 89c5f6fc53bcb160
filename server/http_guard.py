"""The server's front door: error mapping, the API key, and what protects it from web pages a user
visits (JSON only, no foreign Origin, absolute URLs from configuration or the bound socket, never from
the Host header)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re

from aiohttp import web

from ..net.url_guard import Origin, origin
from ..pipeline.errors import BadInput
from .admission import Busy
from .connection_guard import SlowClient
from .database import StorageFull
from .rate_limited_log import log_once
from .job_store import StoreUnavailable

log = logging.getLogger("faceswap_v3.server")
# Outputs and assets are images: never sniffed into HTML, never run as a document.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                "Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}
JSON_TYPES = ("application/json",)


def error(status: int, message: str, headers: dict | None = None, reason: str | None = None) -> web.Response:
    """The API's error body, {"error": message}, with a machine-readable "reason" when there is one."""
    body = {"error": message} if reason is None else {"error": message, "reason": reason}
    return web.json_response(body, status=status, headers=headers)


# host[:port] exactly: a DNS name or IPv4 address, or an IPv6 address in brackets; a port of 1 to 5 digits
# without a leading zero. No path, query, fragment, user name or spaces.
_HOST_PORT = re.compile(r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9.])?|\[[0-9A-Fa-f:.]{2,45}\])"
                        r"(?::(?P<port>[1-9][0-9]{0,4}))?")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<authority>[^/?#@\s]+)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_and_port(value: str, default_port: int) -> tuple[str, int] | None:
    """(lower-case host, port) of a Host header or an origin's authority that is exactly host[:port], the
    brackets of an IPv6 address dropped as in an Origin tuple; None for anything else."""
    match = _HOST_PORT.fullmatch(value)
    if match is None:
        return None
    host = match["host"].lower()
    if host.startswith("["):
        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            return None
    port = int(match["port"]) if match["port"] else default_port
    return (host, port) if port <= 65535 else None


def parse_origin(value: str) -> Origin | None:
    """An Origin header as a browser sends it, scheme://host[:port] and nothing else (no trailing slash,
    no path, no leading zero in the port); None for anything else, "null" included."""
    match = _ORIGIN.fullmatch(value)
    if match is None:
        return None
    scheme = match["scheme"].lower()
    parsed = host_and_port(match["authority"], _DEFAULT_PORTS[scheme])
    return (scheme, *parsed) if parsed else None


def is_own_origin(url: str, own: set[Origin]) -> bool:
    """Whether url (a URL) is on one of this server's own origins."""
    try:
        return origin(url) in own
    except BadInput:
        return False


class ServerAddress:
    """Where this server is reached: --public-url when given, else the address of the socket the
    request came in on (what the client connected to; its Host header only when it names that)."""

    def __init__(self, public_url: str | None = None) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None

    def base_url(self, request: web.Request) -> str:
        """--public-url; else the name the client used when it is one of ours (localhost for a loopback
        socket), so its key still goes to the same origin; else the socket's address. A Host header that
        is anything but one host[:port] is ignored."""
        if self.public_url:
            return self.public_url
        hosts = request.headers.getall("Host", [])
        named = host_and_port(hosts[0], 80) if len(hosts) == 1 else None
        if named is None or ("http", *named) not in self.own_origins(request):
            return self._socket_origin(request)
        host, port = named
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}" if port == 80 else f"http://{shown}:{port}"

    def own_origins(self, request: web.Request) -> set[Origin]:
        origins = {origin(self._socket_origin(request))}
        if self.public_url:
            origins.add(origin(self.public_url))
        sockname = self._sockname(request)
        if sockname and ipaddress.ip_address(sockname[0].split("%")[0]).is_loopback:
            origins.add(("http", "localhost", sockname[1]))
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
        except SlowClient as exc:
            response = error(408, str(exc))
            response.force_close()
        except StorageFull as exc:
            log_once.warning("storage full", "refused requests because the data volume is full: %s", exc)
            response = error(507, str(exc), {"Retry-After": str(exc.retry_after_s)})
        except StoreUnavailable as exc:
            response = error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})
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
        sent_origin = request.headers.get("Origin")
        if sent_origin is not None and parse_origin(sent_origin) not in address.own_origins(request):
            return error(403, "cross-origin requests are not accepted (the Origin header names another site, "
                              "or is not scheme://host[:port])")
        if request.method == "POST" and request.content_type not in JSON_TYPES:
            return error(400, "send the request body as JSON with Content-Type: application/json")
        return await handler(request)

    return check_browser
