"""Save Image (marked): ComfyUI's Save Image (same output folder, file names, prompt and workflow in the
PNG), plus the marks that the image was altered by a trained model (see pipeline/provenance/marks.py)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from ..pipeline.provenance.marks import save_options, software
from .comfy_env import folders


class SaveImageMarked:
    CATEGORY = "Faceswap V3/image"
    DESCRIPTION = ("Saves images to ComfyUI's output folder like Save Image, marked as altered by a trained "
                   "model: XMP DigitalSourceType compositeWithTrainedAlgorithmicMedia, EXIF and PNG Software.")
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip": (
                    "The prefix of the file names, as in Save Image; may name a subfolder and use "
                    "%date:yyyy-MM-dd% style tokens.")}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        folder, name, counter, subfolder = folders.save_image_path(filename_prefix, images[0].shape[1],
                                                                      images[0].shape[0])
        text = {}
        if not folders.metadata_disabled():
            if prompt is not None:
                text["prompt"] = json.dumps(prompt)
            for key, value in (extra_pnginfo or {}).items():
                text[key] = json.dumps(value)
        options = save_options("png", software(), text)
        results = []
        for batch_number, image in enumerate(images):
            pixels = np.clip(255.0 * image.float().cpu().numpy(), 0, 255).astype(np.uint8)
            file = f"{name.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
            Image.fromarray(pixels).save(folder / file, compress_level=4, **options)
            results.append({"filename": file, "subfolder": subfolder, "type": "output"})
            counter += 1
        return {"ui": {"images": results}}
