"""Every image in the repository is listed in SHIPPED_IMAGES.tsv with its source, and none is a photo:
the thumbnails are pictures of the templates' own graphs, so no third-party photo ships."""

from __future__ import annotations

import csv
import hashlib
import subprocess

import pytest

from support import REPO
from faceswap_v3.pipeline.analysis.detectors import load_detector
from faceswap_v3.pipeline.runtime.images import read_image_file

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
GRAPH_SCREENSHOT = "screenshot of this template's graph in ComfyUI's frontend"


def listed() -> dict[str, dict]:
    lines = [line for line in (REPO / "SHIPPED_IMAGES.tsv").read_text().splitlines() if not line.startswith("#")]
    return {row["path"]: row for row in csv.DictReader(lines, delimiter="\t")}


def repository_images() -> list[str]:
    files = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True)
    return sorted(path for path in files.stdout.splitlines() if path.lower().endswith(IMAGE_SUFFIXES))


def test_every_image_in_the_repository_is_listed_with_its_source_and_hash():
    manifest, images = listed(), repository_images()
    assert images and sorted(manifest) == images, "list every image in SHIPPED_IMAGES.tsv (and only those)"
    for path, row in manifest.items():
        assert hashlib.sha256((REPO / path).read_bytes()).hexdigest() == row["sha256"], (
            f"{path} changed: put its new sha256 in SHIPPED_IMAGES.tsv")
        assert row["source"].startswith(GRAPH_SCREENSHOT), f"{path}: only pictures of our own graphs ship"


@pytest.mark.parametrize("path", repository_images())
def test_no_shipped_image_shows_a_face(path, store):
    """The real RetinaFace detector finds faces on the test photos (test_detection_real.py); on a picture
    of a graph it finds none."""
    detector = load_detector("retinaface_mobile0.25", store)
    assert detector.detect(read_image_file(REPO / path)) == [], f"{path} shows a face"
