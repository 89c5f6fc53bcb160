"""ComfyUI nodes (classic API): thin adapters from widgets and tensors to pipeline/."""

from .detect_faces import DetectFaces
from .faceswap_v3 import FaceswapV3
from .load_face import LoadFace
from .remote_swap import SegmindRemoteSwap
from .restore_face import RestoreFace
from .swap_faces import SwapFaces

NODE_CLASS_MAPPINGS = {
    "FaceswapV3LoadFace": LoadFace,
    "FaceswapV3DetectFaces": DetectFaces,
    "FaceswapV3SwapFaces": SwapFaces,
    "FaceswapV3RestoreFace": RestoreFace,
    "FaceswapV3": FaceswapV3,
    "FaceswapV3SegmindRemoteSwap": SegmindRemoteSwap,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FaceswapV3LoadFace": "Load Face (Faceswap V3)",
    "FaceswapV3DetectFaces": "Detect Faces (Faceswap V3)",
    "FaceswapV3SwapFaces": "Swap Faces (Faceswap V3)",
    "FaceswapV3RestoreFace": "Restore Face (Faceswap V3)",
    "FaceswapV3": "Faceswap V3 (all-in-one, local)",
    "FaceswapV3SegmindRemoteSwap": "Segmind Faceswap V3 (hosted API)",
}
