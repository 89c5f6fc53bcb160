"""The content check sees every pixel at the classifier's own scale: a strip of ten flagged tiles and a small
flagged region of a large canvas, both invisible to a classifier that shrinks the whole image, are blocked as
the server's source, target and result. The classifier is FaceFusion's three analysers as stand-ins (they flag
a magenta marker when it fills most of what they are shown); real nudenet's windows block none of the safe
photos (test_content_check.py's test_nudenet_blocks_none_of_the_safe_photos runs them through the same
windows; here: that those photos do get windows)."""

from __future__ import annotations

import io
import os

import httpx
import numpy as np
import pytest
from PIL import Image

from server_harness import b64, running
from support import FACES
from test_content_check_server import PORTRAIT, CountingEngine
from test_server_guards import make_server
from faceswap_v3.pipeline.content_check import ContentBlocked, ContentCheck, Verdict, load_check
from faceswap_v3.pipeline.content_check.check import bounded
from faceswap_v3.pipeline.content_check.views import OVERLAP, WHOLE, CutEdges, windows
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore

MAGENTA, GREY = (255, 0, 255), (128, 128, 128)


def strip_of_tiles(count: int = 10, tile: int = 600) -> np.ndarray:
    """count marker tiles side by side, each a shade apart so the tiles are tiles: a 6000x600 strip."""
    return np.concatenate([np.full((tile, tile, 3), (255 - i, 0, 255 - i), np.uint8) for i in range(count)], axis=1)


def canvas_with_region(height: int = 2400, width: int = 3000, side: int = 800, at=(1133, 1817)) -> np.ndarray:
    """A grey canvas with one marker square of `side` px at (row, column) `at`: 9% of its area."""
    canvas = np.full((height, width, 3), GREY, np.uint8)
    canvas[at[0]:at[0] + side, at[1]:at[1] + side] = MAGENTA
    return canvas


def png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG", compress_level=1)
    return out.getvalue()


@pytest.fixture(scope="module")
def check(swap_root) -> ContentCheck:
    return load_check("facefusion", ModelStore(models_root=swap_root, allow_download=False))


@pytest.mark.parametrize("image", [strip_of_tiles(), canvas_with_region()], ids=["10-tile strip", "small region"])
def test_what_the_whole_image_hides_a_window_shows(check, image):
    whole = check.classifier.verdict(bounded(image, check.classifier.view_size))
    assert not whole.flagged  # the blind spot: shrunk whole, the marker is a sliver
    verdict = check.verdict(image)
    assert verdict.flagged and "region at x" in verdict.detail
    assert check.views(image) > 1


def test_an_image_within_the_view_size_is_judged_whole_once(check):
    small = np.full((check.classifier.view_size, check.classifier.view_size // 3, 3), GREY, np.uint8)
    assert windows(*small.shape[:2], check.classifier.view_size) == windows(*small.shape[:2], 10**6)
    assert check.views(small) == 1 and check.views(strip_of_tiles()) > 1


@pytest.mark.parametrize("height, width", [(600, 6000), (4000, 6000), (2903, 4352), (769, 768), (5000, 101)])
def test_the_windows_of_each_scale_cover_the_image_with_half_a_window_of_overlap(height, width):
    view = 768
    found = windows(height, width, view)
    assert (found[0].x, found[0].y, found[0].width, found[0].height) == (0, 0, width, height)
    finest = [w for w in found[1:] if max(w.width, w.height) == min(view, max(height, width))]
    assert finest and found[-1] in finest  # coarse scales first, the finest last
    covered = np.zeros((height, width), bool)
    for w in found:
        assert 0 <= w.x and w.x + w.width <= width and 0 <= w.y and w.y + w.height <= height
        assert w.width == min(width, max(w.width, w.height)) and w.height == min(height, max(w.width, w.height))
    for w in finest:
        covered[w.slices] = True
    assert covered.all()
    xs = sorted({w.x for w in finest})
    assert all(b - a <= view * (1 - OVERLAP) for a, b in zip(xs, xs[1:]))


def test_a_region_half_a_window_wide_lies_whole_in_a_window_wherever_it_is():
    view, side = 768, 384
    for y, x in [(0, 0), (1, 1), (383, 2221), (1900, 3555), (3615, 5615)]:
        assert any(w.x <= x and x + side <= w.x + w.width and w.y <= y and y + side <= w.y + w.height
                   for w in windows(4000, 6000, view) if max(w.width, w.height) == view), (y, x)


def blocked_job(swap_root, check, source: bytes, target: bytes, engine: CountingEngine) -> httpx.Response:
    body = {"source_img": b64(source), "target_img": b64(target), "image_format": "png", "face_restore_weight": 0,
            "facedetection": "scrfd_2.5g_bnkps.onnx"}
    with running(make_server(swap_root, engine=engine, content_check=check)) as base:
        return httpx.post(f"{base}/v1/faceswap-v3", json=body, timeout=120)


@pytest.mark.parametrize("image", [strip_of_tiles(), canvas_with_region()], ids=["10-tile strip", "small region"])
@pytest.mark.parametrize("role", ["source_img", "target_img", "the result"])
def test_the_server_blocks_them_as_source_target_and_result(swap_root, check, image, role):
    flagged, portrait = png(image), PORTRAIT
    engine = CountingEngine(answer=flagged if role == "the result" else None)
    source, target = (flagged, portrait) if role == "source_img" else (portrait, flagged if role == "target_img"
                                                                        else portrait)
    answer = blocked_job(swap_root, check, source, target, engine)
    assert answer.status_code == 422 and answer.json()["reason"] == "content_blocked"
    assert role in answer.json()["error"] and "region at x" in answer.json()["error"]
    assert engine.calls == (1 if role == "the result" else 0)  # an input is refused before any swap


def test_the_cli_check_refuses_them_too(check):
    with pytest.raises(ContentBlocked, match="the target image was blocked"):
        check.require_allowed(strip_of_tiles(), "the target image")


def test_nudenet_judges_most_safe_photos_in_windows_too():
    if os.environ.get("CI") != "true":
        pytest.importorskip("nudenet")
    check = load_check("nudenet", ModelStore(allow_download=False))
    photos = [p for p in sorted(FACES.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    with_windows = [p.name for p in photos if check.views(read_image_file(p)) > 1]
    assert check.classifier.view_size == 1280 and len(with_windows) >= 8, with_windows


class Recorder:
    """A classifier that flags nothing and records what it is shown (the Classifier protocol, nothing else)."""

    name, view_size = "recorder", 64

    def __init__(self) -> None:
        self.shown = []

    def verdict(self, rgb, cut=WHOLE):
        self.shown.append((rgb.shape, cut))
        return Verdict(False, "nothing")


def test_each_view_is_shrunk_to_the_view_size_and_told_which_edges_cut_the_image():
    recorder = Recorder()
    image = np.zeros((130, 700, 3), np.uint8)
    assert ContentCheck(recorder).verdict(image) == Verdict(False, "nothing")
    shapes = [shape for shape, _ in recorder.shown]
    assert len(shapes) == len(windows(130, 700, 64)) and all(max(shape[:2]) <= 64 for shape in shapes)
    assert shapes[0] == (12, 64, 3) and recorder.shown[0][1] == WHOLE
    edges = [cut for _, cut in recorder.shown[1:]]
    assert CutEdges(False, False, True, True) in edges and CutEdges(True, True, False, False) in edges
    assert all(cut != WHOLE for cut in edges)
