"""What the tests share: the paths of the real photos and models (tools/shared_files.py), PSNR, node
outputs by name, and a scripted loopback HTTP handler."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from shared_files import FACES, MODELS, REPO, SHARED, face_range, manifest  # noqa: F401 (tests import them from here)


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays, in dB (inf when identical)."""
    import numpy as np

    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def named(node, result) -> dict:
    """A ComfyUI node's outputs by name (their positions change as outputs are added)."""
    return dict(zip(node.RETURN_NAMES, result))


class RouteHandler(BaseHTTPRequestHandler):
    """Answers GET routes[path] = (status, headers, body); a callable body writes the answer itself
    (after the headers, without Content-Length), for slow or recording routes."""

    routes: dict = {}

    def do_GET(self):  # noqa: N802 - http.server's naming
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        status, headers, body = route
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if callable(body):
            self.end_headers()
            body(self)
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def local_change(before, after) -> tuple[float, float]:
    """(mean absolute difference in the four 160 px corners, far from any face; the largest mean
    difference over 32x32 blocks) of two RGB uint8 arrays."""
    import numpy as np

    diff = np.abs(before.astype(float) - after.astype(float)).mean(axis=2)
    corners = np.concatenate([diff[:160, :160], diff[:160, -160:], diff[-160:, :160], diff[-160:, -160:]])
    h, w = (diff.shape[0] // 32) * 32, (diff.shape[1] // 32) * 32
    blocks = diff[:h, :w].reshape(h // 32, 32, w // 32, 32).mean(axis=(1, 3))
    return float(corners.mean()), float(blocks.max())


def restore_one_frame(rgb, faces, restore_crop, weight: float, interpolation: str = "Bilinear"):
    """One frame through pipeline.restore.restore_frames, with a restorer that takes one crop at a time."""
    import numpy as np

    from faceswap_v3.pipeline.restore.restorer import restore_frames

    def restore_batch(crops):
        return np.stack([restore_crop(crop) for crop in crops])

    return restore_frames([rgb], [list(faces)], restore_batch, weight, interpolation)[0]
