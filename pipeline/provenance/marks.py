"""Machine-readable marks that an image was altered by a trained model (EU AI Act Art. 50): XMP with
IPTC's DigitalSourceType compositeWithTrainedAlgorithmicMedia (JPEG, PNG, WebP), EXIF Software and a PNG
`Software` text chunk naming the pack, its version and the swap model. Written while encoding, so the
pixels are encoded once."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
PACK_NAME = "Faceswap V3 for ComfyUI"
EXIF_SOFTWARE = 0x0131
XMP_PNG_KEY = "XML:com.adobe.xmp"  # where XMP lives in a PNG (an iTXt chunk), as Adobe's spec says


@lru_cache(maxsize=1)
def pack_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("comfyui-faceswap-v3")
    except PackageNotFoundError:  # a ComfyUI custom_nodes checkout is not pip-installed: read pyproject
        import tomllib

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


def software(swap_model: str | None = None) -> str:
    """The pack, its version and, when known, the swap model."""
    base = f"{PACK_NAME} {pack_version()}"
    return f"{base} (swap model: {Path(swap_model).name})" if swap_model else base


def xmp_packet(software_name: str) -> bytes:
    from xml.sax.saxutils import escape

    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f'<Iptc4xmpExt:DigitalSourceType>{DIGITAL_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>'
        f'<xmp:CreatorTool>{escape(software_name)}</xmp:CreatorTool>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode("utf-8")


def save_options(image_format: str, software_name: str, png_text: dict[str, str] | None = None) -> dict:
    """Pillow save() keyword arguments carrying the marks for jpeg, png or webp; png_text: more PNG text
    chunks (ComfyUI's prompt and workflow)."""
    exif = Image.Exif()
    exif[EXIF_SOFTWARE] = software_name
    options: dict = {"exif": exif}
    if image_format == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", software_name)
        info.add_itxt(XMP_PNG_KEY, xmp_packet(software_name).decode("utf-8"))
        for key, value in (png_text or {}).items():
            info.add_text(key, value)
        options["pnginfo"] = info
    else:
        options["xmp"] = xmp_packet(software_name)
    return options


def encode_marked(rgb: np.ndarray, image_format: str, quality: int, software_name: str) -> bytes:
    """Encode an RGB uint8 array as jpeg, png or webp bytes carrying the marks."""
    pil_format = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[image_format]
    options = save_options(image_format, software_name)
    if image_format in ("jpeg", "webp"):
        options["quality"] = int(quality)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format=pil_format, **options)
    return out.getvalue()

