"""python -m faceswap_v3: the engine from a terminal."""
