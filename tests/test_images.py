"""Bad images get a one-line error naming the problem; good ones decode upright to RGB."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from support import FACES
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_batch
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.net.image_reference import load_image
from faceswap_v3.pipeline.runtime.images import decode_image


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's calling card)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_decompression_bomb_header_is_refused_before_decoding():
    with pytest.raises(BadInput) as info:
        decode_image(png_header(30000, 30000), "target_img")
    message = one_line(info.value)
    assert message.startswith("target_img is ") and "900000000 pixels" in message
    assert message.endswith("the limit is 100 MP, so scale it down first")
    # Under PIL's own bomb limit, our tighter one still applies before any pixel is decoded.
    with pytest.raises(BadInput, match=r"^target_img is 12000x10000 \(120 MP\); the limit is 100 MP"):
        decode_image(png_header(12000, 10000), "target_img")


def test_corrupt_and_truncated_bytes():
    with pytest.raises(BadInput, match=r"^source_img is not an image in a format this API takes \(JPEG, PNG, WebP"):
        decode_image(b"definitely not an image", "source_img")
    jpeg = (FACES / "portrait_male_02.jpg").read_bytes()
    with pytest.raises(BadInput) as info:
        decode_image(jpeg[: len(jpeg) // 3], "source_img")
    assert one_line(info.value).startswith("source_img is corrupt or truncated")
    with pytest.raises(BadInput, match="is empty"):
        decode_image(b"", "source_img")


def test_base64_and_data_urls_decode_and_garbage_is_refused():
    raw = (FACES / "portrait_male_02.jpg").read_bytes()
    expected = decode_image(raw)
    text = base64.b64encode(raw).decode()
    assert np.array_equal(load_image(text), expected)
    assert np.array_equal(load_image("data:image/jpeg;base64," + text), expected)
    with pytest.raises(BadInput, match="neither a URL, an existing file, nor valid base64"):
        load_image("not base64 at all!")
    with pytest.raises(BadInput, match="no file at /no/such/face.jpg"):
        load_image("/no/such/face.jpg")


def test_url_that_is_not_an_image(http_server):
    http_server.routes["/page"] = (200, {"Content-Type": "text/html"}, b"<html>hello</html>")
    http_server.routes["/face.jpg"] = (200, {"Content-Type": "image/jpeg"}, (FACES / "portrait_male_02.jpg").read_bytes())
    with pytest.raises(BadInput) as info:
        load_image(http_server.url + "/page", "source_img")
    assert one_line(info.value) == (f"source_img ({http_server.url}/page, Content-Type text/html) is not an image in a "
                                    "format this API takes (JPEG, PNG, WebP, GIF, BMP or TIFF)")
    with pytest.raises(BadInput, match="answered HTTP 404"):
        load_image(http_server.url + "/nothing.jpg")
    assert load_image(http_server.url + "/face.jpg").shape == (418, 740, 3)


def test_url_that_does_not_resolve_or_has_another_scheme():
    with pytest.raises(BadInput, match="could not fetch http://no-such-host.invalid/x.jpg"):
        load_image("http://no-such-host.invalid/x.jpg")
    from faceswap_v3.net.http_fetch import fetch_bytes

    with pytest.raises(BadInput, match="only http\\(s\\) URLs are accepted"):
        fetch_bytes("file:///etc/passwd")


def test_url_body_over_the_size_limit(http_server):
    from faceswap_v3.net.http_fetch import fetch_bytes

    http_server.routes["/big"] = (200, {}, b"x" * 2048)
    with pytest.raises(BadInput, match="is 2048 bytes; the limit is 1024"):
        fetch_bytes(http_server.url + "/big", max_bytes=1024)


def test_palette_and_16_bit_images_become_rgb():
    img = Image.open(FACES / "portrait_male_02.jpg").convert("P")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert decode_image(buf.getvalue()).shape == (418, 740, 3)


def test_empty_batch_is_refused(store):
    with pytest.raises(BadInput, match="the image batch is empty"):
        analyze_batch([], AnalysisRequest("retinaface_mobile0.25"), store)


def test_a_16_bit_grey_png_keeps_its_grey_levels():
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (8, 1))
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")
    rgb = decode_image(buf.getvalue())
    assert rgb.shape == (8, 256, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[0, :, 0], (ramp[0].astype(np.uint32) // 257).astype(np.uint8))
    assert rgb[0, 128, 0] == 128 and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_palette_images_with_transparency_keep_their_colours():
    colours = np.array([[10, 20, 30], [200, 100, 50]], np.uint8)
    img = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    img.putpalette(colours.flatten().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0)
    assert np.array_equal(decode_image(buf.getvalue()), colours[[[0, 1], [1, 0]]])


def test_formats_outside_the_api_are_refused_before_any_decoder_runs():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    dds = b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 16, 0, 0) + bytes(44) + struct.pack("<2I", 32, 0) + bytes(104)
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="ICO")
    for data in (eps, dds, buf.getvalue()):
        with pytest.raises(BadInput) as info:
            decode_image(data, "source_img")
        assert one_line(info.value).startswith("source_img is not an image in a format this API takes "
                                                "(JPEG, PNG, WebP, GIF, BMP or TIFF)")
    for fmt in ("BMP", "GIF", "TIFF", "WEBP"):
        buf = io.BytesIO()
        Image.new("RGB", (5, 3), (0, 128, 255)).save(buf, format=fmt)
        assert decode_image(buf.getvalue()).shape == (3, 5, 3)


def test_base64_with_line_breaks_without_padding_or_url_safe_and_no_file_wording():
    from faceswap_v3.pipeline.runtime.images import base64_bytes

    def decode_base64_image(text, what):
        return decode_image(base64_bytes(text, what), what)

    raw = (FACES / "portrait_male_02.jpg").read_bytes()
    expected = decode_image(raw)
    wrapped = base64.encodebytes(raw).decode()
    assert "\n" in wrapped
    for text in (wrapped, wrapped.replace("\n", "\r\n"), base64.b64encode(raw).decode().rstrip("="),
                 base64.urlsafe_b64encode(raw).decode().rstrip("="), "data:image/jpeg;base64," + wrapped):
        assert np.array_equal(decode_base64_image(text, "target_img"), expected)
    with pytest.raises(BadInput) as info:
        decode_base64_image("%%% not base64 %%%", "target_img")
    assert one_line(info.value) == "target_img is neither an http(s) URL nor valid base64 image data"
    assert "file" not in str(info.value)


@pytest.mark.parametrize("mode", ["F", "I"])
def test_float_and_32_bit_tiffs_convert_strip_by_strip_to_the_same_grey(mode):
    """600 rows: more than two 256-row strips, so strip edges are crossed; values past the 16-bit range
    and below zero clip, float values up to 1.0 scale to 0..255."""
    rows = np.arange(600, dtype=np.float64)[:, None] * np.ones((1, 40))
    if mode == "F":
        values = (rows / 599.0).astype(np.float32)
        expected = np.clip(values * 255.0, 0, 255).round().astype(np.uint8)
    else:
        values = (rows * 200 - 20_000).astype(np.int32)  # -20000 .. 99800
        expected = (np.clip(values, 0, 65535) // 257).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(values, mode).save(buf, format="TIFF")
    rgb = decode_image(buf.getvalue())
    assert rgb.shape == (600, 40, 3) and np.array_equal(rgb[..., 0], expected)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def test_image_errors_never_quote_the_bytes_read():
    with pytest.raises(BadInput) as info:
        decode_image(b"root:x:0:0:root:/root:/bin/bash\n" * 4, "image")
    assert "root:x" not in str(info.value) and "is not an image in a format" in str(info.value)
