"""The API's face ordering, gender filtering, index parsing and pairing, on real detections."""

from __future__ import annotations

import numpy as np
import pytest

from support import FACES
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.analysis.detectors import load_detector
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.options import FACE_ORDERS
from faceswap_v3.pipeline.analysis.selection import order_faces, pair_indexes, parse_indexes, require_all, select_faces


def centre(face):
    x1, y1, x2, y2 = face.box
    return (x1 + x2) / 2, (y1 + y2) / 2


@pytest.fixture(scope="module")
def children(store):
    faces = load_detector("retinaface_mobile0.25", store).detect(read_image_file(FACES / "group_8_children.jpg"))
    assert len(faces) == 8
    return faces


@pytest.fixture(scope="module")
def couple(store):
    rgb = read_image_file(FACES / "couple_female_left_male_right.jpg")
    faces = load_detector("retinaface_mobile0.25", store).detect(rgb)
    assert len(faces) == 2
    return faces


def test_large_small_orders_by_box_area(children, couple):
    for faces in (children, couple):
        areas = [f.area for f in order_faces(faces, "large-small")]
        assert areas == sorted(areas, reverse=True)
        assert [f.area for f in order_faces(faces, "small-large")] == areas[::-1]


def test_top_bottom_puts_the_back_row_of_children_first(children):
    ordered = order_faces(children, "top-bottom")
    tops = [f.box[1] for f in ordered]
    assert tops == sorted(tops)
    back_row = sorted(children, key=lambda f: centre(f)[1])[:4]
    assert {id(f) for f in ordered[:4]} == {id(f) for f in back_row}
    assert [f.box[1] for f in order_faces(children, "bottom-top")] == tops[::-1]


def test_left_right_orders_by_box_left_edge(children, couple):
    lefts = [f.box[0] for f in order_faces(children, "left-right")]
    assert lefts == sorted(lefts)
    assert [f.box[0] for f in order_faces(children, "right-left")] == lefts[::-1]
    woman, man = order_faces(couple, "left-right")
    assert centre(woman)[0] < centre(man)[0]
    assert order_faces(couple, "right-left") == [man, woman]


def test_every_order_is_a_permutation_of_the_faces(children):
    for order in FACE_ORDERS:
        assert sorted(id(f) for f in order_faces(children, order)) == sorted(id(f) for f in children)


@pytest.mark.parametrize("text, expected", [("0", [0]), ("0,2", [0, 2]), (" 1 , 0 ", [1, 0]), ("10", [10])])
def test_index_parsing_accepts_whole_numbers(text, expected):
    assert parse_indexes(text, "input_faces_index") == expected


@pytest.mark.parametrize("text, token", [("a", "'a'"), ("-1", "'-1'"), ("1.5", "'1.5'"), ("", "''"),
                                         ("0,,1", "''"), ("٣", "'٣'")])
def test_index_parsing_rejects_anything_else_quoting_the_token(text, token):
    with pytest.raises(BadInput) as info:
        parse_indexes(text, "input_faces_index")
    message = str(info.value)
    assert message.startswith(f"input_faces_index: {token} is not a face index")


def test_gender_filter_then_index_on_real_predictions(store):
    rgb = read_image_file(FACES / "couple_female_left_male_right.jpg")
    for gender, expected in (("female", "F"), ("male", "M")):
        analysis = analyze_image(rgb, AnalysisRequest("retinaface_mobile0.25", "large-small", gender, "0"), store)
        assert [f.gender for f in analysis.selection.candidates] == [expected]
        assert analysis.selection.picked[0].gender == expected
    both = analyze_image(rgb, AnalysisRequest("retinaface_mobile0.25", "left-right", "no", "0,1"), store,
                         with_gender=True)
    assert [f.gender for f in both.selection.picked] == ["F", "M"]


def test_group_of_six_filtered_by_gender_keeps_order_among_that_gender(store):
    rgb = read_image_file(FACES / "group_6faces_t1.jpg")
    women = analyze_image(rgb, AnalysisRequest("scrfd_2.5g_bnkps.onnx", "left-right", "female", "0,1,2"), store).selection
    men = analyze_image(rgb, AnalysisRequest("scrfd_2.5g_bnkps.onnx", "left-right", "male", "2,0"), store).selection
    assert women.available == 3 and men.available == 3
    assert [f.gender for f in women.picked] == ["F", "F", "F"]
    lefts = [f.box[0] for f in women.picked]
    assert lefts == sorted(lefts)
    # manifest, left to right: F F M M M F -> the third woman is the rightmost face
    everyone = analyze_image(rgb, AnalysisRequest("scrfd_2.5g_bnkps.onnx", "left-right", "no", "5"), store,
                             with_gender=True).selection
    assert [f.gender for f in everyone.candidates] == ["F", "F", "M", "M", "M", "F"]
    assert women.picked[2].box == everyone.picked[0].box
    assert men.picked[0].box == everyone.candidates[4].box and men.picked[1].box == everyone.candidates[2].box


def test_index_past_the_faces_found_target_skips_source_errors(store):
    rgb = read_image_file(FACES / "two_men.jpg")
    analysis = analyze_image(rgb, AnalysisRequest("retinaface_mobile0.25", "large-small", "female", "0"), store)
    assert analysis.selection.available == 0 and analysis.selection.missing == (0,)
    two = analyze_image(rgb, AnalysisRequest("retinaface_mobile0.25", "large-small", "male", "1,3"), store)
    assert two.selection.picked[0] is not None and two.selection.missing == (3,)
    with pytest.raises(BadInput, match=r"^source has 2 faces after filtering; source_faces_index asks for 3$"):
        require_all(two.selection, "source", "source_faces_index")


def test_pairing_rules():
    assert pair_indexes([0], [0, 1, 2]) == [(0, 0), (0, 1), (0, 2)]
    assert pair_indexes([1, 0], [0, 2]) == [(1, 0), (0, 2)]
    with pytest.raises(BadInput, match="source_faces_index has 2 indexes and input_faces_index has 3"):
        pair_indexes([0, 1], [0, 1, 2])


def test_unknown_order_or_gender_is_rejected(children):
    with pytest.raises(BadInput, match="detection_face_order: 'biggest' is not one of"):
        order_faces(children, "biggest")
    with pytest.raises(BadInput, match="detect_gender: 'other' is not one of"):
        select_faces(children, "large-small", "other", [0])


def test_unknown_detector_is_rejected(store):
    rgb = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(BadInput, match="facedetection: 'mtcnn' is not one of"):
        analyze_image(rgb, AnalysisRequest("mtcnn"), store)


def test_index_lists_refuse_repeats_long_lists_and_huge_numbers():
    with pytest.raises(BadInput, match=r"^input_faces_index: index 0 is listed twice; list each face once$"):
        parse_indexes("0,1,0", "input_faces_index")
    # a source face may serve several target faces
    assert parse_indexes("0,1,0", "source_faces_index") == [0, 1, 0]
    assert parse_indexes(",".join(map(str, range(64))), "input_faces_index") == list(range(64))
    with pytest.raises(BadInput, match=r"^input_faces_index lists 65 indexes; at most 64 are allowed$"):
        parse_indexes(",".join(map(str, range(65))), "input_faces_index")
    with pytest.raises(BadInput, match=r"^input_faces_index lists 5000 indexes"):
        parse_indexes(",".join(["0"] * 5000), "input_faces_index")
    with pytest.raises(BadInput, match=r"^input_faces_index: '99999999999999999999'\.\.\. \(5000 characters\) is far "):
        parse_indexes("9" * 5000, "input_faces_index")
    assert parse_indexes("0009999", "input_faces_index") == [9999]
