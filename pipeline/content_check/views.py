"""Where a classifier looks in an image. Every classifier shrinks what it is given to its own input
(nudenet 320 px, FaceFusion's analysers 384-640 px), so a 6000 px strip or a small region of a large canvas
would reach it as a few pixels. It looks at the whole image first, then, when the image's longer side is
more than the classifier's view size (a few times its input: Classifier.view_size), at overlapping square
windows at every scale from the view size up to the whole image, coarse scales first. Windows of one scale
overlap by half a window, so whatever is at most half a window wide lies whole in one of them; what is
larger lies whole in a window of a coarser scale."""

from __future__ import annotations

import math
from dataclasses import dataclass

OVERLAP = 0.5  # of a window's side, between neighbouring windows of one scale


@dataclass(frozen=True)
class CutEdges:
    """Which edges of a view cut through the image (a window's inner edges); none for the whole image."""

    left: bool = False
    top: bool = False
    right: bool = False
    bottom: bool = False


WHOLE = CutEdges()


@dataclass(frozen=True)
class Window:
    x: int
    y: int
    width: int
    height: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)

    def cut_edges(self, image_height: int, image_width: int) -> CutEdges:
        return CutEdges(self.x > 0, self.y > 0, self.x + self.width < image_width, self.y + self.height < image_height)

    def where(self) -> str:
        return f"the {self.width}x{self.height} region at x {self.x}, y {self.y}"


def _starts(length: int, window: int) -> list[int]:
    """Window offsets along one side: evenly spread, the first at 0 and the last at the far edge, at most
    (1 - OVERLAP) x window apart."""
    if window >= length:
        return [0]
    count = math.ceil((length - window) / (window * (1 - OVERLAP))) + 1
    return [round(i * (length - window) / (count - 1)) for i in range(count)]


def windows(height: int, width: int, view_size: int) -> list[Window]:
    """The whole image, then the windows of each scale from the coarsest to the finest (squares of side
    view_size x 2^k, cut to the image). Only the whole image when its longer side is at most view_size."""
    found = [Window(0, 0, width, height)]
    sides = []
    side = view_size
    while side < max(height, width):
        sides.append(side)
        side *= 2
    for side in reversed(sides):
        window_w, window_h = min(side, width), min(side, height)
        found += [Window(x, y, window_w, window_h) for y in _starts(height, window_h) for x in _starts(width, window_w)]
    return found
