"""Pixel boost: swap a face aligned at a larger size by splitting the crop into the N x N interleaved
sub-images of the model's size (space-to-depth), swapping each, and interleaving them back.

Sub-image (i, j) holds the pixels crop[i::N, j::N], so each one is the whole face at the model's size,
shifted by a fraction of a pixel; together they keep every pixel of the boost-size crop.
"""

from __future__ import annotations

import numpy as np

from ..errors import BadInput
from ..options import BOOST_SIZES


def parse_pixel_boost(value: str) -> int:
    """'512x512' -> 512; anything not in BOOST_SIZES is a BadInput listing them."""
    if value not in BOOST_SIZES:
        raise BadInput(f"pixel_boost: {value!r} is not one of the allowed values ({', '.join(BOOST_SIZES)})")
    return int(value.split("x")[0])


def check_boost(boost: int, model_size: int, model_name: str) -> int:
    """The number of sub-images per side, or a BadInput saying which boost sizes fit the model."""
    if boost < model_size or boost % model_size:
        fitting = [s for s in BOOST_SIZES if int(s.split("x")[0]) % model_size == 0
                   and int(s.split("x")[0]) >= model_size]
        why = "smaller than" if boost < model_size else "not a multiple of"
        raise BadInput(f"pixel_boost {boost}x{boost} is {why} {model_name}'s {model_size}x{model_size} crop; "
                       f"choose {', '.join(fitting)}")
    return boost // model_size


def split_tiles(crop: np.ndarray, model_size: int) -> np.ndarray:
    """(B, B, C) crop -> (N*N, S, S, C) interleaved sub-images, B = N * S; tile i*N + j = crop[i::N, j::N]."""
    n = crop.shape[0] // model_size
    tiles = crop.reshape(model_size, n, model_size, n, crop.shape[2]).transpose(1, 3, 0, 2, 4)
    return tiles.reshape(n * n, model_size, model_size, crop.shape[2])


def merge_tiles(tiles: np.ndarray) -> np.ndarray:
    """The inverse of split_tiles: (N*N, S, S, C) -> (N*S, N*S, C)."""
    count, size, _, channels = tiles.shape
    n = int(round(count ** 0.5))
    crop = tiles.reshape(n, n, size, size, channels).transpose(2, 0, 3, 1, 4)
    return crop.reshape(n * size, n * size, channels)
