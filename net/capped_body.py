"""Reading an HTTP answer's body under a cap on its decoded size, for every download of the pack (image
URLs, the hosted API's answers). We ask for the body uncompressed; an answer compressed anyway is decoded
here while it streams, one gzip or deflate layer at most, and never past max_bytes of output: a few KB of
stacked gzip cannot become gigabytes in memory."""

from __future__ import annotations

import zlib

ACCEPT_ENCODING = {"Accept-Encoding": "identity"}
_STEP = 1 << 20  # decoded bytes per decompress call: no large temporary, whatever one chunk expands to
_SINGLE_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class CappedBody:
    """Feed it the raw (still encoded) chunks of one answer; finish() returns the decoded body. Raises
    error(message) as soon as the encoded or the decoded size passes max_bytes, or when the answer is
    compressed more than once or in a coding we do not decode."""

    def __init__(self, headers, max_bytes: int, what: str, error: type[Exception]) -> None:
        self.max_bytes, self.what, self.error = max_bytes, what, error
        declared = headers.get("content-length", "")
        if declared.isdigit() and len(declared) < 20 and int(declared) > max_bytes:
            raise error(f"{what} is {int(declared)} bytes; the limit is {max_bytes}")
        codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1:
            raise error(f"{what} is compressed more than once (Content-Encoding: {', '.join(codings)[:80]}); "
                        "only one gzip or deflate layer is accepted")
        if codings and codings[0] not in _SINGLE_CODINGS:
            raise error(f"{what} uses a compression this reader does not take (Content-Encoding: "
                        f"{codings[0][:40]}); only gzip or deflate")
        self.coding = codings[0] if codings else None
        self._decoder = zlib.decompressobj(_SINGLE_CODINGS[self.coding]) if self.coding else None
        self._chunks: list[bytes] = []
        self._size = self._raw_size = 0

    def feed(self, chunk: bytes) -> None:
        self._raw_size += len(chunk)
        if self._raw_size > self.max_bytes:
            raise self.error(f"{self.what} is larger than the limit of {self.max_bytes} bytes; stopped reading")
        if self._decoder is None:
            self._append(chunk)
            return
        try:
            self._decode(chunk)
        except zlib.error:
            self._retry_raw_deflate(chunk)

    def _decode(self, data: bytes) -> None:
        while data and not self._decoder.eof:  # bytes after the compressed stream's end are not the body
            self._append(self._decoder.decompress(data, _STEP))
            data = self._decoder.unconsumed_tail

    def finish(self) -> bytes:
        if self._decoder is not None:
            try:
                self._append(self._decoder.flush())
            except zlib.error:
                raise self.error(f"{self.what} is not valid {self.coding} data") from None
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body

    def _retry_raw_deflate(self, chunk: bytes) -> None:
        """Some servers send raw deflate (no zlib header) as "deflate"; only the first chunk can tell."""
        if self.coding != "deflate" or self._size or self._raw_size != len(chunk):
            raise self.error(f"{self.what} is not valid {self.coding} data")
        self._decoder, self.coding = zlib.decompressobj(-zlib.MAX_WBITS), "raw deflate"
        try:
            self._decode(chunk)
        except zlib.error:
            raise self.error(f"{self.what} is not valid deflate data") from None

    def _append(self, data: bytes) -> None:
        if self._size + len(data) > self.max_bytes:
            raise self.error(f"{self.what} decodes to more than the limit of {self.max_bytes} bytes; stopped reading"
                             if self._decoder is not None else
                             f"{self.what} is larger than the limit of {self.max_bytes} bytes; stopped reading")
        self._size += len(data)
        if data:
            self._chunks.append(data)


def read_capped(response, max_bytes: int, what: str, error: type[Exception]) -> bytes:
    """The decoded body of a streamed httpx response (sync), within max_bytes."""
    body = CappedBody(response.headers, max_bytes, what, error)
    for chunk in response.iter_raw():
        body.feed(chunk)
    return body.finish()


async def read_capped_async(response, max_bytes: int, what: str, error: type[Exception]) -> bytes:
    """read_capped for an httpx AsyncClient's streamed response."""
    body = CappedBody(response.headers, max_bytes, what, error)
    async for chunk in response.aiter_raw():
        body.feed(chunk)
    return body.finish()
