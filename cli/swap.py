"""python -m faceswap_v3 swap --source S --target T -o OUT: the API's job, every parameter a flag."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

from ..pipeline.face_masks import DEFAULT_BLUR, DEFAULT_OCCLUDER, DEFAULT_PARSER, MASK_TYPES, MaskOptions
from ..pipeline.images import encode_image, load_image
from ..pipeline.job import run_faceswap
from ..pipeline.models.store import ModelStore
from ..pipeline.models.swap_models import DEFAULT_SWAPPER, RECOGNIZER_FILE, SwapModels
from ..pipeline.options import (DEFAULTS, FACE_ORDERS, GENDER_FILTERS, IMAGE_FORMATS, INTERPOLATIONS)
from ..pipeline.params import FaceswapParams
from ..pipeline.pixel_boost import BOOST_SIZES, DEFAULT_BOOST
from .output_file import PendingOutput, image_format_for
from .terminal_progress import terminal_progress


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_parser(commands) -> None:
    p = commands.add_parser("swap", help="swap faces from a source image into a target image")
    p.add_argument("--source", required=True, help="source image: file path, http(s) URL or base64")
    p.add_argument("--target", required=True, help="target image: file path, http(s) URL or base64")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="where to write the result; replaced only once the result is complete")
    p.add_argument("--models-dir", type=Path, help="models root laid out like ComfyUI's models/")
    p.add_argument("--swap-model", default=DEFAULT_SWAPPER, help="swapper .onnx (name in insightface/ or a path)")
    p.add_argument("--recognition-model", default=RECOGNIZER_FILE, help="ArcFace .onnx (name or path)")
    p.add_argument("--input-faces-index", default=DEFAULTS["input_faces_index"])
    p.add_argument("--source-faces-index", default=DEFAULTS["source_faces_index"])
    p.add_argument("--face-restore", default=DEFAULTS["face_restore"],
                   help="codeformer-v0.1.0.pth, GFPGANv1.4.pth, GFPGANv1.3.pth, or a file in facerestore_models/")
    p.add_argument("--interpolation", default=DEFAULTS["interpolation"], choices=INTERPOLATIONS)
    p.add_argument("--detection-face-order", default=DEFAULTS["detection_face_order"], choices=FACE_ORDERS)
    p.add_argument("--facedetection", default=DEFAULTS["facedetection"])
    p.add_argument("--detect-gender-input", default=DEFAULTS["detect_gender_input"], choices=GENDER_FILTERS)
    p.add_argument("--detect-gender-source", default=DEFAULTS["detect_gender_source"], choices=GENDER_FILTERS)
    p.add_argument("--face-restore-weight", default=DEFAULTS["face_restore_weight"], type=float)
    p.add_argument("--image-format", default=None, choices=IMAGE_FORMATS,
                   help="default: from -o's extension (.jpg/.jpeg, .png, .webp); with --base64, "
                        f"{DEFAULTS['image_format']}")
    p.add_argument("--image-quality", default=DEFAULTS["image_quality"], type=int)
    p.add_argument("--base64", nargs="?", const=True, default=DEFAULTS["base64"], type=_bool,
                   help="write JSON {\"image\": base64} instead of image bytes")
    p.add_argument("--pixel-boost", default=DEFAULT_BOOST, choices=BOOST_SIZES,
                   help="align and paste faces at this size, swapping N x N sub-images (extension of the API)")
    p.add_argument("--face-mask-types", default="box", help=f"comma-separated, from {', '.join(MASK_TYPES)}")
    p.add_argument("--face-mask-blur", default=DEFAULT_BLUR, type=float, help="box: feathered edge, 0..0.5 of the crop")
    p.add_argument("--face-mask-padding", default="0", help="box: percent, one value or top,right,bottom,left")
    p.add_argument("--face-mask-regions", default="all", help="region: comma-separated BiSeNet regions, or all")
    p.add_argument("--face-occluder-model", default=DEFAULT_OCCLUDER, help="XSeg .onnx (name in face_parsing/ or path)")
    p.add_argument("--face-parser-model", default=DEFAULT_PARSER, help="BiSeNet .onnx (name in face_parsing/ or path)")
    p.add_argument("--mask", help="grey image the size of the target: where it is black, nothing changes")
    p.set_defaults(run=run)


def params_from_args(args) -> FaceswapParams:
    names = ("input_faces_index", "source_faces_index", "face_restore", "interpolation", "detection_face_order",
             "facedetection", "detect_gender_input", "detect_gender_source", "face_restore_weight",
             "image_quality", "base64", "pixel_boost")
    image_format = image_format_for(args.output, args.image_format, args.base64, DEFAULTS["image_format"])
    return FaceswapParams(image_format=image_format, **{name: getattr(args, name) for name in names})


def run(args) -> int:
    with PendingOutput(args.output) as output:  # the folder is checked before any work
        params = params_from_args(args)
        store = ModelStore(models_root=args.models_dir, progress_for=terminal_progress)
        models = SwapModels(store=store, swapper_file=args.swap_model, recognizer_file=args.recognition_model)
        masks = MaskOptions.from_widgets(args.face_mask_types, args.face_mask_blur, args.face_mask_padding,
                                         args.face_mask_regions, args.face_occluder_model, args.face_parser_model)
        source = load_image(args.source, "source image")
        target = load_image(args.target, "target image")
        mask = load_image(args.mask, "mask").mean(axis=2) / 255.0 if args.mask else None
        result = run_faceswap(source, [target], params, models, masks=masks, mask=mask)
        encoded = encode_image(result.frames[0], params.image_format, params.image_quality)
        if params.base64:
            encoded = json.dumps({"image": base64.b64encode(encoded).decode("ascii")}).encode("ascii")
        output.commit(encoded)
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"wrote {args.output}")
    return 0
