"""Real detectors on real photos: RetinaFace MobileNet-0.25 (official checkpoint) and insightface SCRFD."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from support import FACES, face_range, manifest
from faceswap_v3.pipeline.analysis.detectors import load_detector
from faceswap_v3.pipeline.runtime.images import decode_image, read_image_file

REAL_DETECTORS = ["retinaface_mobile0.25", "det_500m.onnx", "scrfd_2.5g_bnkps.onnx"]
ROWS = manifest()


@pytest.fixture(scope="module")
def photos():
    return {row["file"]: read_image_file(FACES / row["file"]) for row in ROWS}


@pytest.mark.parametrize("detector_name", REAL_DETECTORS)
def test_face_count_within_manifest_range_on_every_photo(detector_name, store, photos):
    detector = load_detector(detector_name, store)
    wrong = []
    for row in ROWS:
        low, high = face_range(row)
        faces = detector.detect(photos[row["file"]])
        if not low <= len(faces) <= high:
            wrong.append((row["file"], len(faces), row["faces_min-max"]))
        if low == high == 0:
            assert faces == [], row["file"]
    assert wrong == []


@pytest.mark.parametrize("detector_name", REAL_DETECTORS)
def test_landmarks_lie_inside_their_boxes(detector_name, store, photos):
    detector = load_detector(detector_name, store)
    checked = 0
    for name in ("group_6faces_t1.jpg", "couple_female_left_male_right.jpg", "portrait_male_01.jpg",
                 "hd_1920x1080_male.jpg", "large_4352x2903_female.jpg", "group_8_children.jpg"):
        for face in detector.detect(photos[name]):
            x1, y1, x2, y2 = face.box
            assert face.landmarks.shape == (5, 2)
            assert np.all((face.landmarks[:, 0] >= x1) & (face.landmarks[:, 0] <= x2)), name
            assert np.all((face.landmarks[:, 1] >= y1) & (face.landmarks[:, 1] <= y2)), name
            # left eye is left of right eye, and both are above the mouth corners
            assert face.landmarks[0, 0] < face.landmarks[1, 0]
            assert max(face.landmarks[0, 1], face.landmarks[1, 1]) < min(face.landmarks[3, 1], face.landmarks[4, 1])
            checked += 1
    assert checked >= 19


def test_large_image_boxes_map_back_to_full_resolution(store, photos):
    """Detection runs on a bounded copy; boxes must come back in the 4352x2903 image's pixels."""
    rgb = photos["large_4352x2903_female.jpg"]
    retina = load_detector("retinaface_mobile0.25", store).detect(rgb)
    scrfd = load_detector("scrfd_2.5g_bnkps.onnx", store).detect(rgb)
    assert len(retina) == len(scrfd) == 1
    a, b = np.array(retina[0].box), np.array(scrfd[0].box)
    assert (a[2] - a[0]) > 300  # a face of a 12 MP portrait, not of a 640 px copy
    assert np.abs(a - b).max() < 0.15 * (b[2] - b[0])


@pytest.mark.parametrize("detector_name", ["retinaface_mobile0.25", "det_500m.onnx"])
def test_rgba_grayscale_and_exif_rotated_inputs(detector_name, store, tmp_path):
    detector = load_detector(detector_name, store)
    rgba = read_image_file(FACES / "rgba_portrait_male.png")
    assert rgba.shape[2] == 3 and len(detector.detect(rgba)) == 1

    upright = Image.open(FACES / "portrait_male_damon.jpg").convert("RGB")
    grey = io.BytesIO()
    upright.convert("L").save(grey, format="PNG")
    grey_rgb = decode_image(grey.getvalue())
    assert grey_rgb.shape == (upright.height, upright.width, 3)
    assert len(detector.detect(grey_rgb)) == 1

    # Store the photo turned on its side with EXIF orientation 6 ("rotate 90 CW to display").
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = io.BytesIO()
    sideways.save(rotated, format="JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_image(rotated.getvalue())
    assert decoded.shape == (upright.height, upright.width, 3)
    faces = detector.detect(decoded)
    reference = detector.detect(np.asarray(upright))
    assert len(faces) == 1
    assert np.abs(np.array(faces[0].box) - np.array(reference[0].box)).max() < 12
