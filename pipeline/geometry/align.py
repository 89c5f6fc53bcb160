"""Similarity transforms from a face's 5 landmarks to the templates the models were trained on."""

from __future__ import annotations

import numpy as np

from ..errors import BadInput

# facexlib's / CodeFormer's 5-point FFHQ template for 512 x 512 crops (restorers).
FFHQ_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                     [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float32)


def arcface_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 matrix insightface's estimate_norm gives for ArcFace (112) and inswapper (128) crops."""
    from insightface.utils.face_align import arcface_dst

    if size % 112 == 0:
        return _similarity(landmarks, arcface_dst * (size / 112.0))
    return swap_matrix(landmarks, size)


def swap_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The swappers' alignment at any crop size: insightface's 128 px template (arcface_dst shifted 8 px
    right, FaceFusion's arcface_128) scaled to size; pixel boost aligns at the boost size with it."""
    from insightface.utils.face_align import arcface_dst

    ratio = size / 128.0
    return _similarity(landmarks, arcface_dst * ratio + np.array([8.0 * ratio, 0.0]))


def _similarity(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    from skimage.transform import SimilarityTransform

    source = np.asarray(landmarks, dtype=np.float64)
    if hasattr(SimilarityTransform, "from_estimate"):
        transform = SimilarityTransform.from_estimate(source, template)
    else:  # scikit-image < 0.26
        transform = SimilarityTransform()
        if not transform.estimate(source, template):
            raise _degenerate(landmarks)
    params = getattr(transform, "params", None)  # a failed from_estimate has none
    if params is None or not np.isfinite(params).all():
        raise _degenerate(landmarks)
    return params[0:2, :].astype(np.float32)


def ffhq_matrix(landmarks: np.ndarray, size: int = 512) -> np.ndarray:
    """The 2x3 matrix that maps the face onto the FFHQ template scaled to size."""
    import cv2

    template = FFHQ_512 * (size / 512.0)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, dtype=np.float32), template, method=cv2.LMEDS)
    if matrix is None or not np.isfinite(matrix).all():
        raise _degenerate(landmarks)
    return matrix.astype(np.float32)


def _degenerate(landmarks: np.ndarray) -> BadInput:
    return BadInput(f"could not align the face with landmarks {np.round(np.asarray(landmarks), 1).tolist()}: they "
                    "are degenerate (on one point or one line); pick another face index or another facedetection")


def warp_crop(rgb: np.ndarray, matrix: np.ndarray, size: int, interpolation: int = 1) -> np.ndarray:
    """Cut the size x size aligned crop out of rgb (pixels outside the image are black).
    interpolation: a cv2 flag (options.interpolation_flag turns the API's names into one)."""
    import cv2

    return cv2.warpAffine(rgb, matrix, (size, size), flags=interpolation, borderValue=0.0)
