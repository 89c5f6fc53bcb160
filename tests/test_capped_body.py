"""The one capped reader every download uses: identity, one gzip or deflate layer (zlib or raw), the cap
on decoded bytes, and refusals for stacked or unknown codings. Pure: no socket."""

from __future__ import annotations

import gzip
import zlib

import pytest

from faceswap_v3.net.capped_body import CappedBody
from faceswap_v3.pipeline.errors import BadInput

BODY = bytes(range(256)) * 4000  # 1 MB


def read(headers: dict, data: bytes, max_bytes: int = 2 << 20, chunk: int = 7000) -> bytes:
    body = CappedBody(headers, max_bytes, "the answer", BadInput)
    for start in range(0, len(data), chunk):
        body.feed(data[start:start + chunk])
    return body.finish()


@pytest.mark.parametrize("coding, data", [
    ("", BODY), ("identity", BODY), ("gzip", gzip.compress(BODY)), ("x-gzip", gzip.compress(BODY)),
    ("deflate", zlib.compress(BODY)), ("deflate", zlib.compress(BODY, wbits=-15)), ("GZIP", gzip.compress(BODY)),
])
def test_one_layer_of_a_supported_coding_decodes_to_the_body(coding, data):
    assert read({"content-encoding": coding}, data) == BODY


def test_the_cap_applies_to_the_decoded_size_and_stops_at_once():
    with pytest.raises(BadInput, match="decodes to more than the limit of 100000 bytes"):
        read({"content-encoding": "gzip"}, gzip.compress(bytes(50_000_000)), max_bytes=100_000)
    with pytest.raises(BadInput, match="the answer is 3000000 bytes; the limit is 100000"):
        CappedBody({"content-length": "3000000"}, 100_000, "the answer", BadInput)


@pytest.mark.parametrize("coding, message", [
    ("gzip, gzip", "compressed more than once (Content-Encoding: gzip, gzip)"),
    ("deflate,gzip", "compressed more than once (Content-Encoding: deflate, gzip)"),
    ("br", "a compression this reader does not take (Content-Encoding: br)"),
])
def test_stacked_and_unknown_codings_are_refused_before_any_byte_is_read(coding, message):
    with pytest.raises(BadInput) as info:
        CappedBody({"content-encoding": coding}, 1 << 20, "the answer", BadInput)
    assert message in str(info.value)


def test_damaged_compressed_data_is_refused_without_quoting_it():
    with pytest.raises(BadInput) as info:
        read({"content-encoding": "gzip"}, b"TOPSECRET" * 100)
    assert str(info.value) == "the answer is not valid gzip data" and "TOPSECRET" not in str(info.value)
