"""python -m faceswap_v3 detect IMAGE: the faces found, in the API's order, as text or JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from ..pipeline.analysis.analyze import AnalysisRequest, analyze_image
from ..pipeline.analysis.detectors import detector_choices
from ..pipeline.errors import BadInput
from ..net.image_reference import load_image
from ..pipeline.models.store import ModelStore
from ..pipeline.options import DEFAULTS, FACE_ORDERS, GENDER_FILTERS
from ..pipeline.analysis.preview import draw_faces
from .output_file import PendingOutput
from .terminal_progress import terminal_progress


def add_parser(commands) -> None:
    p = commands.add_parser("detect", help="detect, order, filter and pick faces in an image")
    p.add_argument("image", help="file path, http(s) URL or base64 image")
    p.add_argument("--models-dir", type=Path, help="models root laid out like ComfyUI's models/")
    p.add_argument("--facedetection", default=DEFAULTS["facedetection"],
                   help=f"one of {', '.join(detector_choices())}, or an SCRFD .onnx in facedetection/")
    p.add_argument("--detection-face-order", default=DEFAULTS["detection_face_order"], choices=FACE_ORDERS)
    p.add_argument("--detect-gender", default=DEFAULTS["detect_gender_input"], choices=GENDER_FILTERS)
    p.add_argument("--faces-index", default=None,
                   help="faces to pick, e.g. 0,2 (default: list every face)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--preview", type=Path, help="write a PNG with numbered boxes")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.preview:
        if args.preview.suffix.lower() != ".png":
            raise BadInput(f"--preview {args.preview.name}: the preview is a PNG; name it .png")
        with PendingOutput(args.preview) as preview:  # the folder is checked before any work
            return _detect(args, preview)
    return _detect(args, None)


def _detect(args, preview: PendingOutput | None) -> int:
    store = ModelStore(models_root=args.models_dir, progress_for=terminal_progress)
    rgb = load_image(args.image, "image")
    request = AnalysisRequest(facedetection=args.facedetection, detection_face_order=args.detection_face_order,
                              detect_gender=args.detect_gender, faces_index=args.faces_index or "0")
    analysis = analyze_image(rgb, request, store)
    selection = analysis.selection
    if args.faces_index is None:
        chosen = list(enumerate(selection.candidates))
    else:
        chosen = [(i, f) for i, f in zip(selection.labels, selection.picked) if f is not None]
    if preview is not None:
        picked = {i for i, _ in chosen}
        png = io.BytesIO()
        Image.fromarray(draw_faces(rgb, list(selection.candidates), picked)).save(png, format="PNG")
        preview.commit(png.getvalue())
    width, height = analysis.image_size
    if args.json:
        faces = [{"index": i, **face.to_json()} for i, face in chosen]
        print(json.dumps({"faces": faces, "image": {"width": width, "height": height}}))
        return 0
    print(f"{len(selection.candidates)} face(s) in {width}x{height} ({'; '.join(analysis.runs_on)})")
    for i, face in chosen:
        x1, y1, x2, y2 = face.box
        extra = f" gender={face.gender} age={face.age}" if face.gender else ""
        print(f"  [{i}] box=({x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}) score={face.score:.3f}{extra}")
    for i in selection.missing:
        print(f"  index {i} asked for, but only {selection.available} face(s) found")
    return 0
