"""A preview image: each face's box, landmarks and its index number (and gender when known)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..face import Face

_SELECTED = (40, 220, 90)
_OTHER = (240, 170, 30)


def draw_faces(rgb: np.ndarray, faces: list[Face], selected: set[int] | None = None) -> np.ndarray:
    """Draw faces numbered by their position in the list; selected indexes in green, others in amber."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(rgb.shape[:2]) / 400))
    font = ImageFont.load_default(size=max(14, round(max(rgb.shape[:2]) / 40)))
    for index, face in enumerate(faces):
        colour = _SELECTED if selected is None or index in selected else _OTHER
        x1, y1, x2, y2 = face.box
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        for x, y in face.landmarks:
            draw.ellipse((x - width, y - width, x + width, y + width), fill=colour)
        label = str(index) + (f" {face.gender}" if face.gender else "")
        left, top, right, bottom = draw.textbbox((x1, y1), label, font=font)
        draw.rectangle((x1, y1 - (bottom - top) - 2 * width, x1 + (right - left) + 2 * width, y1), fill=colour)
        draw.text((x1 + width, y1 - (bottom - top) - width - (top - y1)), label, fill=(0, 0, 0), font=font)
    return np.asarray(img)
