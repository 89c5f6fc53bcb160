"""Faceswap V3 for ComfyUI. ComfyUI imports this folder as a package; `pip install .` names it faceswap_v3."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .pipeline.errors import BadInput, FaceswapError, ModelUnavailable  # named faceswap_v3.<class> in errors
from .nodes.comfy_env.folders import register_model_folders
from .nodes.comfy_env.memory import use_comfy_model_management
from .nodes.comfy_env.prompt_handler import on_each_prompt
from .nodes.prompt_links import mark_unread_outputs

register_model_folders()
use_comfy_model_management()
on_each_prompt(mark_unread_outputs)  # outputs nothing reads are not built (the swapping nodes' mask)

WEB_DIRECTORY = "./web"  # frontend extensions: warnings as toasts, upgrading workflows saved by older versions

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY", "BadInput", "FaceswapError", "ModelUnavailable"]
