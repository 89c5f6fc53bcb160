"""What keeps slow, idle and never-ending clients from holding the server: a deadline for a request's
headers (and for idle keep-alive connections), a deadline for its body, a cap on open connections and
a cap on the request-body bytes buffered across all requests at once. Refusals are logged at most once
per interval (rate_limited_log), never once per connection."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .admission import Busy
from .rate_limited_log import log_once

# For the database, model files, image URL fetches and the listening socket (128), and for sockets that are
# accepted but not yet counted or closed but not yet released: asyncio accepts up to the listen backlog (128)
# at a time, and a connection closed to make room gives its descriptor back one loop turn later.
_FDS_KEPT_FREE = 128 + 3 * 128


class SlowClient(Exception):
    """The request's body did not arrive within the body deadline: answered 408, connection closed."""


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0     # a request's headers, from connect or from the previous answer
    body_timeout_s: float = 60.0       # a request's whole body
    max_connections: int = 512         # lowered to fit the open-files limit
    max_buffered_bytes: int = 256 * 1024 * 1024  # request bodies being read or handled, all together
    retry_after_s: int = 5

    def connection_cap(self) -> int:
        try:
            import resource  # POSIX only
        except ImportError:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(8, min(self.max_connections, soft - _FDS_KEPT_FREE))


class BodyReader:
    """Reads request bodies under max_body_bytes each, body_timeout_s each, and max_buffered_bytes for
    all requests together; the bytes count until the request is answered (see middleware)."""

    def __init__(self, limits: ConnectionLimits, max_body_bytes: int) -> None:
        self.limits, self.max_body_bytes = limits, max_body_bytes
        self.buffered = 0
        self._held: dict[int, int] = {}  # id(request) -> its body bytes counted in buffered

    async def read(self, request: web.Request) -> bytes:
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=self.max_body_bytes, actual_size=declared)
        self._reserve(request, declared or 0)
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                async for chunk in request.content.iter_any():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise web.HTTPRequestEntityTooLarge(max_size=self.max_body_bytes, actual_size=size)
                    if size > (declared or 0):
                        self._reserve(request, len(chunk))
                    chunks.append(chunk)
        except TimeoutError:
            log_once.warning("slow body", "closed connections whose request body did not arrive within %g s",
                             self.limits.body_timeout_s)
            raise SlowClient(f"the request body did not arrive within {self.limits.body_timeout_s:g} s") from None
        return b"".join(chunks)

    def _reserve(self, request: web.Request, nbytes: int) -> None:
        if self.buffered + nbytes > self.limits.max_buffered_bytes:
            log_once.warning("buffered bytes", "refused request bodies: %d MiB of bodies are already being read "
                             "(limit %d MiB)", self.buffered // 2**20, self.limits.max_buffered_bytes // 2**20)
            raise Busy(f"the server is already reading {self.limits.max_buffered_bytes // 2**20} MiB of request "
                       "bodies; retry later", self.limits.retry_after_s)
        self.buffered += nbytes
        self._held[id(request)] = self._held.get(id(request), 0) + nbytes

    def middleware(self):
        @web.middleware
        async def release_body_bytes(request: web.Request, handler):
            try:
                return await handler(request)
            finally:
                self.buffered -= self._held.pop(id(request), 0)

        return release_body_bytes


class GuardedRunner(web.AppRunner):
    """An AppRunner whose server keeps at most `cap` connections open. A new connection past the cap takes
    the place of the connection that has waited longest for a request (one that never finished its headers,
    or the longest idle between requests), so clients that only hold connections open cannot lock a normal
    client out; only when every connection is in a request is the new one closed at once. Idle or half-sent
    requests are closed after header_timeout_s (aiohttp's keep-alive timer, which also runs before the first
    request and is not extended by bytes that trickle in)."""

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs) -> None:
        kwargs.setdefault("keepalive_timeout", limits.header_timeout_s)
        kwargs.setdefault("lingering_time", 2.0)  # unread body after an early answer: drained 2 s at most
        super().__init__(app, **kwargs)
        self.limits = limits
        self.cap = limits.connection_cap()
        # handler -> transport, oldest wait for a request first; a connection is in _waiting from its connect
        # until its request reaches the handler, and again once the answer is written
        self._waiting: OrderedDict[RequestHandler, asyncio.BaseTransport] = OrderedDict()
        self._in_request: dict[RequestHandler, asyncio.BaseTransport] = {}

    @property
    def open_connections(self) -> int:
        return len(self._waiting) + len(self._in_request)

    async def _make_server(self):
        server = await super()._make_server()
        made, lost, handle = server.connection_made, server.connection_lost, server.request_handler

        def connection_made(handler: RequestHandler, transport: asyncio.BaseTransport) -> None:
            made(handler, transport)
            if self.open_connections >= self.cap:
                if not self._waiting:
                    log_once.warning("connection cap", "closed new connections: %d are open, all in a request "
                                     "(limit %d)", self.open_connections, self.cap)
                    transport.abort()
                    return
                _, oldest = self._waiting.popitem(last=False)
                log_once.warning("connection cap evictions", "closed connections waiting longest for a request to "
                                 "make room for new ones: %d are open (limit %d)", self.open_connections + 1, self.cap)
                oldest.abort()
            self._waiting[handler] = transport

        def connection_lost(handler: RequestHandler, exc=None) -> None:
            self._waiting.pop(handler, None)
            self._in_request.pop(handler, None)
            lost(handler, exc)

        async def request_handler(request: web.BaseRequest) -> web.StreamResponse:
            handler = request.protocol
            transport = self._waiting.pop(handler, None)
            if transport is not None:
                self._in_request[handler] = transport
                # the task running this request ends once its answer is written: then it waits again
                asyncio.current_task().add_done_callback(lambda _: self._answered(handler))
            return await handle(request)

        server.connection_made, server.connection_lost = connection_made, connection_lost
        server.request_handler = request_handler
        return server

    def _answered(self, handler: RequestHandler) -> None:
        transport = self._in_request.pop(handler, None)
        if transport is not None and not transport.is_closing():
            self._waiting[handler] = transport
