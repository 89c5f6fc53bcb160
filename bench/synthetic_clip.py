"""A synthesized video clip from one real group photo, with exactly known motion (shared by the
tracking tests and bench/frame_throughput.py).

The camera pans right and zooms in (faces on the left leave the frame); one face (the "grower") is
enlarged a little more every frame, as if walking towards the camera, so that it overtakes the
largest face mid-clip; the largest face (the "leader", kept 1.15x its size so the face order starts
without ties) is hidden behind a grey block for a few frames. Every face's box in every frame is
known from the photo's box and the motion: see Clip.face_box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Face boxes of group_6faces_t1.jpg (1280x886) as SCRFD-2.5G finds them, left to right (F F M M M F).
GROUP_PHOTO_BOXES = {
    "A": (59, 263, 169, 396), "B": (269, 147, 371, 265), "C": (465, 265, 573, 416),
    "D": (746, 339, 846, 481), "E": (905, 54, 1013, 204), "F": (1131, 271, 1226, 399),
}
LEADER, GROWER = "C", "D"
LEADER_ZOOM = 1.15
GROWER_ZOOMS = (1.0, 1.5)  # first frame, last frame
VIEW_WIDTHS = (1250.0, 900.0)  # photo pixels the frame shows across, first and last frame
VIEW_CENTRES = ((640.0, 300.0), (810.0, 285.0))
LAYER_MARGIN = 0.35  # the enlarged patch reaches this far (in face sizes) beyond the face box


def _lerp(a, b, u):
    return a + (b - a) * u


@dataclass(frozen=True)
class Clip:
    frames: list[np.ndarray]
    cameras: list[np.ndarray]  # 2x3 photo -> frame matrices
    zooms: list[dict[str, float]]  # per frame: face -> enlargement about its centre
    hidden: dict[int, str]  # frame -> the face hidden behind a block in it

    def face_box(self, frame: int, face: str) -> tuple[float, float, float, float]:
        """Where `face` of the photo is in `frame` (before clipping to the frame)."""
        x1, y1, x2, y2 = GROUP_PHOTO_BOXES[face]
        cx, cy, z = (x1 + x2) / 2, (y1 + y2) / 2, self.zooms[frame].get(face, 1.0)
        corners = np.array([[cx + (x1 - cx) * z, cy + (y1 - cy) * z, 1.0], [cx + (x2 - cx) * z, cy + (y2 - cy) * z, 1.0]])
        (a, b), (c, d) = corners @ self.cameras[frame].T
        return (float(a), float(b), float(c), float(d))

    def visible(self, frame: int, face: str, margin: float = 0.0) -> bool:
        """Whether the face is wholly inside the frame (grown by margin face sizes) and not hidden."""
        if self.hidden.get(frame) == face:
            return False
        x1, y1, x2, y2 = self.face_box(frame, face)
        h, w = self.frames[frame].shape[:2]
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        return x1 - mx >= 0 and y1 - my >= 0 and x2 + mx <= w and y2 + my <= h


def _enlarge(scene: np.ndarray, photo: np.ndarray, face: str, zoom: float) -> None:
    """Paste the face's neighbourhood enlarged by zoom about the face's centre (zoom >= 1 hides the original)."""
    import cv2

    x1, y1, x2, y2 = GROUP_PHOTO_BOXES[face]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w, half_h = (x2 - x1) * (0.5 + LAYER_MARGIN) * zoom, (y2 - y1) * (0.5 + LAYER_MARGIN) * zoom
    left, top = int(np.floor(cx - half_w)), int(np.floor(cy - half_h))
    right, bottom = int(np.ceil(cx + half_w)), int(np.ceil(cy + half_h))
    matrix = np.array([[zoom, 0, cx - zoom * cx - left], [0, zoom, cy - zoom * cy - top]], np.float32)
    patch = cv2.warpAffine(photo, matrix, (right - left, bottom - top), flags=cv2.INTER_LINEAR)
    scene[top:bottom, left:right] = patch


def make_clip(photo: np.ndarray, count: int = 12, size: tuple[int, int] = (800, 450),
              hidden_frames: tuple[float, float] = (0.62, 0.75)) -> Clip:
    """count frames of size (width, height); the leader is hidden in the frames whose position
    (0 = first frame, 1 = last) lies in hidden_frames."""
    import cv2

    width, height = size
    frames, cameras, zooms, hidden = [], [], [], {}
    for t in range(count):
        u = t / max(1, count - 1)
        zoom = {LEADER: LEADER_ZOOM, GROWER: _lerp(*GROWER_ZOOMS, u)}
        scene = photo.copy()
        for face, z in zoom.items():
            _enlarge(scene, photo, face, z)
        scale = width / _lerp(*VIEW_WIDTHS, u)
        cx, cy = (_lerp(a, b, u) for a, b in zip(*VIEW_CENTRES))
        camera = np.array([[scale, 0, width / 2 - scale * cx], [0, scale, height / 2 - scale * cy]], np.float64)
        frame = cv2.warpAffine(scene, camera, (width, height), flags=cv2.INTER_LINEAR)
        cameras.append(camera)
        zooms.append(zoom)
        if hidden_frames[0] <= u <= hidden_frames[1]:
            hidden[t] = LEADER
            frames.append(frame)
            clip = Clip(frames, cameras, zooms, {})
            x1, y1, x2, y2 = clip.face_box(t, LEADER)
            mx, my = (x2 - x1) * 0.3, (y2 - y1) * 0.3
            frame[max(0, int(y1 - my)):int(y2 + my), max(0, int(x1 - mx)):int(x2 + mx)] = 128
        else:
            frames.append(frame)
    return Clip(frames, cameras, zooms, hidden)
