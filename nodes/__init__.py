"""ComfyUI nodes (classic API): thin adapters from widgets and tensors to pipeline/."""

from .detect_faces import DetectFaces
from .face_model_nodes import BuildFaceModel, LoadFaceModel, SaveFaceModel
from .face_similarity import FaceSimilarity
from .all_in_one import FaceswapV3
from .load_face import LoadFace
from .remote_swap import SegmindRemoteSwap
from .restore_face import RestoreFace
from .save_image_marked import SaveImageMarked
from .swap_faces import SwapFaces

NODE_CLASS_MAPPINGS = {
    "FaceswapV3LoadFace": LoadFace,
    "FaceswapV3DetectFaces": DetectFaces,
    "FaceswapV3SwapFaces": SwapFaces,
    "FaceswapV3RestoreFace": RestoreFace,
    "FaceswapV3": FaceswapV3,
    "FaceswapV3SegmindRemoteSwap": SegmindRemoteSwap,
    "FaceswapV3BuildFaceModel": BuildFaceModel,
    "FaceswapV3SaveFaceModel": SaveFaceModel,
    "FaceswapV3LoadFaceModel": LoadFaceModel,
    "FaceswapV3FaceSimilarity": FaceSimilarity,
    "FaceswapV3SaveImageMarked": SaveImageMarked,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FaceswapV3LoadFace": "Load Face (Faceswap V3)",
    "FaceswapV3DetectFaces": "Detect Faces (Faceswap V3)",
    "FaceswapV3SwapFaces": "Swap Faces (Faceswap V3)",
    "FaceswapV3RestoreFace": "Restore Face (Faceswap V3)",
    "FaceswapV3": "Faceswap V3 (all-in-one, local)",
    "FaceswapV3SegmindRemoteSwap": "Segmind Faceswap V3 (hosted API)",
    "FaceswapV3BuildFaceModel": "Build Face Model (Faceswap V3)",
    "FaceswapV3SaveFaceModel": "Save Face Model (Faceswap V3)",
    "FaceswapV3LoadFaceModel": "Load Face Model (Faceswap V3)",
    "FaceswapV3FaceSimilarity": "Face Similarity (Faceswap V3)",
    "FaceswapV3SaveImageMarked": "Save Image (marked)",
}
