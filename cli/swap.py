"""python -m faceswap_v3 swap --source S --target T -o OUT: the API's job, every parameter a flag."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from ..pipeline.swap.face_masks import MASK_TYPES, MaskOptions

MASK_WIDGET_OPTIONS = ("face_mask_types", "face_mask_blur", "face_mask_padding", "face_mask_regions",
                       "face_occluder_model", "face_parser_model")
from ..net.image_reference import load_image
from ..pipeline.provenance.c2pa_manifest import NO_MANIFEST
from ..pipeline.content_check import CLASSIFIERS
from ..pipeline.runtime.images import encode_image
from ..pipeline.job import run_faceswap
from ..pipeline.models.store import ModelStore
from ..pipeline.swap_models import DEFAULT_SWAPPER, RECOGNIZER_FILE, SwapModels
from ..pipeline.options import DEFAULTS, request_options
from ..pipeline.params import FaceswapParams
from ..pipeline.analysis.similarity import describe_similarities
from ..pipeline.provenance.marks import encode_marked, software
from .option_flags import add_option_flag
from .output_file import PendingOutput, image_format_for
from .signing import c2pa_signer
from .terminal_progress import terminal_progress


def add_parser(commands) -> None:
    p = commands.add_parser("swap", help="swap faces from a source image into a target image")
    p.add_argument("--source", required=True, help="source image: file path, http(s) URL or base64")
    p.add_argument("--target", required=True, help="target image: file path, http(s) URL or base64")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="where to write the result; replaced only once the result is complete")
    p.add_argument("--models-dir", type=Path, help="models root laid out like ComfyUI's models/")
    p.add_argument("--swap-model", default=DEFAULT_SWAPPER, help="swapper .onnx (name in insightface/ or a path)")
    p.add_argument("--recognition-model", default=RECOGNIZER_FILE, help="ArcFace .onnx (name or path)")
    helps = {
        "face_restore": "codeformer-v0.1.0.pth, GFPGANv1.4.pth, GFPGANv1.3.pth, or a file in facerestore_models/",
        "image_format": f"default: from -o's extension (.jpg/.jpeg, .png, .webp); with --base64, "
                        f"{DEFAULTS['image_format']}",
        "base64": "write JSON {\"image\": base64} instead of image bytes",
        "pixel_boost": "align and paste faces at this size, swapping N x N sub-images (extension of the API)",
        "measure_similarity": "print the ArcFace similarity of each swapped face to the source (one more recognizer "
                              "run per face; extension of the API)",
        "face_mask_types": f"comma-separated, from {', '.join(MASK_TYPES)}",
        "face_mask_blur": "box: feathered edge, 0..0.5 of the crop",
        "face_mask_padding": "box: percent, one value or top,right,bottom,left",
        "face_mask_regions": "region: comma-separated BiSeNet regions, or all",
        "face_occluder_model": "XSeg .onnx (name in face_parsing/ or path)",
        "face_parser_model": "BiSeNet .onnx (name in face_parsing/ or path)",
    }
    for name in request_options():
        add_option_flag(p, name, helps.get(name), **({"default": None} if name == "image_format" else {}))
    for name in MASK_WIDGET_OPTIONS:
        add_option_flag(p, name, helps.get(name), **({"choices": None} if name == "face_mask_types" else {}))
    p.add_argument("--content-check", default="auto", choices=("auto", *CLASSIFIERS),
                   help="the classifier the source, the target and the result pass (see serve --help)")
    p.add_argument("--no-content-check", action="store_true", help="skip the content check")
    p.add_argument("--c2pa-cert", type=Path, help="PEM certificate chain to sign the result with a C2PA manifest")
    p.add_argument("--c2pa-key", type=Path, help="the PEM private key of --c2pa-cert")
    p.add_argument("--mask", help="grey image the size of the target: where it is black, nothing changes")
    p.set_defaults(run=run)


def params_from_args(args) -> FaceswapParams:
    names = [name for name in request_options() if name != "image_format"]  # image_format: from -o, below
    image_format = image_format_for(args.output, args.image_format, args.base64, DEFAULTS["image_format"])
    return FaceswapParams(image_format=image_format, **{name: getattr(args, name) for name in names})


def _content_check(args, store: ModelStore):
    from ..pipeline.content_check import HOW_TO_GET_ONE, installed_check, load_check
    from ..pipeline.errors import BadInput

    if args.no_content_check:
        return None
    check = installed_check(store) if args.content_check == "auto" else load_check(args.content_check, store)
    if check is None:
        raise BadInput(f"no content classifier is installed: {HOW_TO_GET_ONE}; or pass --no-content-check")
    return check


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
        check = _content_check(args, store)
        signer = c2pa_signer(args)
        if check is not None:
            check.require_allowed(target, "the target image")
            check.require_allowed(source, "the source image")
        result = run_faceswap(source, [target], params, models, masks=masks, mask=mask)
        if check is not None:
            check.require_allowed(result.frames[0], "the result")
        encoded = encode_marked(result.frames[0], params.image_format, params.image_quality,
                                software(args.swap_model))
        if signer is not None:
            encoded = signer.sign(encoded, params.image_format, encode_image(target, "png"), "png")
        if params.base64:
            encoded = json.dumps({"image": base64.b64encode(encoded).decode("ascii")}).encode("ascii")
        output.commit(encoded)
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.face_similarities:
        print(describe_similarities(result.face_similarities))
    if signer is None:
        print(NO_MANIFEST)
    print(f"wrote {args.output}")
    return 0
