"""measure_similarity: a trailing widget of the local swapping nodes, just before content_check (so saved
workflows keep their positions), never offered by the hosted-API node, an optional request field (sent nowhere at its default)."""

from __future__ import annotations

import pytest

from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.params import FaceswapParams


def widget_names(node) -> list[str]:
    inputs = node.INPUT_TYPES()
    return [*inputs["required"], *inputs.get("optional", {})]


@pytest.mark.parametrize("node, after", [(FaceswapV3, ["image_format", "image_quality"]), (SwapFaces, [])])
def test_measure_similarity_comes_after_track_faces_and_before_content_check_and_is_off(node, after):
    names = widget_names(node)  # the all-in-one's output encoding widgets come last
    assert names[-2 - len(after):] == ["measure_similarity", "content_check", *after]
    assert node.INPUT_TYPES()["optional"]["measure_similarity"][1]["default"] is False


def test_the_hosted_api_node_does_not_offer_measure_similarity():
    assert "measure_similarity" not in widget_names(SegmindRemoteSwap)


def test_measure_similarity_is_an_optional_request_field_left_out_at_its_default():
    assert "measure_similarity" not in FaceswapParams().to_mapping()
    on = FaceswapParams.from_mapping({"measure_similarity": True})
    assert on.measure_similarity is True and on.to_mapping()["measure_similarity"] is True
    with pytest.raises(BadInput, match="^measure_similarity must be true or false, got 'yes'$"):
        FaceswapParams.from_mapping({"measure_similarity": "yes"})


def test_the_servers_worker_logs_the_scores_only_when_the_request_asks(swap_root, caplog):
    import logging

    from support import FACES
    from faceswap_v3.pipeline.runtime.images import read_image_file
    from faceswap_v3.pipeline.models.store import ModelStore
    from faceswap_v3.pipeline.swap_models import SwapModels
    from faceswap_v3.server.swap_request import JobInput, run_job

    models = SwapModels(store=ModelStore(models_root=swap_root, allow_download=False), swapper_file="latent_shift.onnx")
    source, target = (read_image_file(FACES / name) for name in ("portrait_female_02.jpg", "portrait_male_02.jpg"))
    request = {"facedetection": "scrfd_2.5g_bnkps.onnx", "face_restore_weight": 0.0}
    for asked in (False, True):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="faceswap_v3.server"):
            run_job(JobInput(FaceswapParams.from_mapping({**request, "measure_similarity": asked}), source, target,
                             models))
        scores = [r.getMessage() for r in caplog.records if r.getMessage().startswith("face similarity: ")]
        assert len(scores) == (1 if asked else 0)
