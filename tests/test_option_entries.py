"""An option is one entry: an API parameter added to pipeline/options.py, and nothing else, becomes a field
of the request record with its check, a widget on the all-in-one and remote nodes, a CLI flag and a
parameter the server validates. Run on a copy of the pack whose options.py has one more entry."""

from __future__ import annotations

from pack_copy import edited_pack, run_probe

NEW_ENTRY = '''
API_OPTIONS["face_tint"] = Option("none", ("none", "warm", "cool"))
'''
PROBE = r'''
import json, sys
from pathlib import Path
import faceswap_v3
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.remote_swap import SegmindRemoteSwap
from faceswap_v3.cli.main import build_parser
from faceswap_v3.server.acceptance import request_params
from faceswap_v3.pipeline.models.store import ModelStore

found = {"package_root": str(Path(faceswap_v3.__file__).parent)}
found["local_widget"] = FaceswapV3.INPUT_TYPES()["optional"].get("face_tint")
found["local_last"] = list(FaceswapV3.INPUT_TYPES()["optional"])[-1]
found["remote_widget"] = SegmindRemoteSwap.INPUT_TYPES()["optional"].get("face_tint")
found["record"] = FaceswapParams(face_tint="warm").to_mapping()["face_tint"]
args = build_parser().parse_args(["swap", "--source", "s.png", "--target", "t.png", "-o", "o.png",
                                  "--face-tint", "cool"])
found["cli"] = args.face_tint
try:
    build_parser().parse_args(["swap", "--source", "s", "--target", "t", "-o", "o.png", "--face-tint", "red"])
except SystemExit as exc:
    found["cli_refused"] = exc.code
store = ModelStore(models_root=sys.argv[1], allow_download=False)
body = {"source_img": "x", "target_img": "y", "face_tint": "warm", "facedetection": "scrfd_2.5g_bnkps.onnx",
        "face_restore_weight": 0}
found["server"] = request_params(dict(body), store)[0].face_tint
try:
    request_params({**body, "face_tint": "red"}, store)
except BadInput as exc:
    found["server_refused"] = str(exc)
print(json.dumps(found))
'''


def test_a_new_api_option_in_the_options_module_reaches_record_widgets_cli_and_server(tmp_path, swap_root):
    root = edited_pack(tmp_path, {"pipeline/options.py": ("\nEXTENSIONS = {", NEW_ENTRY)})
    found = run_probe(root, PROBE, str(swap_root))
    assert found["local_widget"] == [["none", "warm", "cool"], {"default": "none"}]
    assert found["local_last"] == "face_tint"  # after every saved widget: old workflows keep their values
    assert found["remote_widget"] == [["none", "warm", "cool"], {"default": "none"}]
    assert found["record"] == "warm" and found["cli"] == "cool" and found["cli_refused"] == 2
    assert found["server"] == "warm"
    assert found["server_refused"] == "face_tint: 'red' is not one of the allowed values (none, warm, cool)"
