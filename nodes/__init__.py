"""ComfyUI nodes (classic API): thin adapters from widgets and tensors to pipeline/."""

from .detect_faces import DetectFaces
from .load_face import LoadFace

NODE_CLASS_MAPPINGS = {
    "FaceswapV3LoadFace": LoadFace,
    "FaceswapV3DetectFaces": DetectFaces,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FaceswapV3LoadFace": "Load Face (Faceswap V3)",
    "FaceswapV3DetectFaces": "Detect Faces (Faceswap V3)",
}
