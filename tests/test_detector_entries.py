"""A detector is one registry entry: a DetectorEntry (with its ModelFile) added to models/registry.py, and
nothing else, makes a facedetection value that the record accepts, the widgets and the CLI list, and the
engine loads and runs (the network read from the file). Run on a copy of the pack with one more entry."""

from __future__ import annotations

from pack_copy import edited_pack, run_probe
from support import FACES

NEW_FILE = '''    ModelFile("det_500m.onnx", "facedetection", "https://example.invalid/det_500m.onnx", "insightface",
              sha256="5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a", size=2524817),
'''
NEW_DETECTOR = '''    DetectorEntry("scrfd_500m", "det_500m.onnx"),
'''
PROBE = r'''
import json, sys
from pathlib import Path
import faceswap_v3
from faceswap_v3.pipeline.analysis.detectors import detector_choices, load_detector
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore
from faceswap_v3.pipeline.params import FaceswapParams
from faceswap_v3.nodes.widgets import facedetection_widget

store = ModelStore(models_root=sys.argv[1], allow_download=False)
detector = load_detector("scrfd_500m", store)
faces = detector.detect(read_image_file(sys.argv[2]))
print(json.dumps({"package_root": str(Path(faceswap_v3.__file__).parent),
                  "choices": detector_choices(store)[:6],
                  "widget": "scrfd_500m" in facedetection_widget(store)[0],
                  "record": FaceswapParams(facedetection="scrfd_500m").facedetection,
                  "runs": type(detector).__name__, "faces": len(faces)}))
'''


def test_a_new_detector_is_one_registry_entry(tmp_path, swap_root):
    root = edited_pack(tmp_path, {"pipeline/models/registry.py": ("]\n\n# FaceFusion's content analysers", NEW_FILE)})
    registry = root / "faceswap_v3" / "pipeline" / "models" / "registry.py"
    text = registry.read_text()
    marker = ")\nDETECTOR_FILES = "
    registry.write_text(text.replace(marker, NEW_DETECTOR + marker, 1))
    found = run_probe(root, PROBE, str(swap_root), str(FACES / "group_2faces_women_7242.jpg"))
    assert found["choices"] == ["retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n",
                                "scrfd_10g (buffalo_l)", "scrfd_500m"]
    assert found["widget"] and found["record"] == "scrfd_500m"
    assert found["runs"] == "SCRFDDetector" and found["faces"] == 2
