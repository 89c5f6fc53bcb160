"""SegmindRemoteSwap: the hosted Faceswap V3 API (or our own server) from a ComfyUI graph."""

from __future__ import annotations

from ..pipeline.errors import BadInput
from ..pipeline.images import decode_image, encode_image
from ..pipeline.params import FaceswapParams
from ..pipeline.remote.api_key import choose_key
from ..pipeline.remote.client import FaceswapClient, RemoteCancelled, RemoteConfig
from . import comfy_env
from .faceswap_v3 import api_widgets
from .tensors import frames_to_image, image_to_frames

DEFAULT_BASE_URL = "https://api.segmind.com"
DEFAULT_STORAGE_URL = "https://workflows-api.segmind.com"


class SegmindRemoteSwap:
    CATEGORY = "Faceswap V3"
    DESCRIPTION = ("Call Segmind's hosted Faceswap V3 API (or a local `python -m faceswap_v3 serve`). Same widgets "
                   "as the all-in-one local node. The API key comes from SEGMIND_API_KEY or a key file and "
                   "goes only to Segmind's own addresses unless SEGMIND_ALLOW_CUSTOM_BASE_URL=1.")
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "remaining_credits")
    OUTPUT_TOOLTIPS = ("The swapped image the API returned.",
                       "The credits left on the account, as the API reported them (empty if it did not).")
    FUNCTION = "swap"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                **api_widgets(None),
                "mode": (["sync", "async"], {"default": "sync",
                                             "tooltip": "sync: one blocking call. async: submit, then poll "
                                                        "(for long jobs; Cancel stops the polling)."}),
                "image_transport": (["upload", "base64"], {
                    "default": "upload",
                    "tooltip": "How IMAGE inputs reach the API: uploaded to Segmind's asset storage and sent as "
                               "URLs (as the API documents), or inlined as base64 in the request."}),
                "base_url": ("STRING", {"default": DEFAULT_BASE_URL,
                                        "tooltip": "The API's address; point it at a local server to use it."}),
            },
            "optional": {
                "source_img": ("IMAGE", {"tooltip": "The face to use (first frame)."}),
                "target_img": ("IMAGE", {"tooltip": "The image whose faces get replaced (first frame)."}),
                "source_url": ("STRING", {"default": "", "tooltip": "Instead of source_img: an image URL."}),
                "target_url": ("STRING", {"default": "", "tooltip": "Instead of target_img: an image URL."}),
                "storage_url": ("STRING", {"default": DEFAULT_STORAGE_URL,
                                           "tooltip": "Where IMAGE inputs are uploaded with image_transport=upload."}),
                "api_key": ("STRING", {"default": "",
                                       "tooltip": "Better left empty: set SEGMIND_API_KEY instead. A key typed here "
                                                  "is saved in the workflow and in every PNG's metadata."}),
            },
        }

    def swap(self, mode, image_transport, base_url, source_img=None, target_img=None, source_url="",
             target_url="", storage_url=DEFAULT_STORAGE_URL, api_key="", **api):
        params = FaceswapParams.from_mapping(api)
        if (api_key or "").strip():
            comfy_env.log.warning("SegmindRemoteSwap: the API key typed into the node is saved in the workflow and "
                                  "in PNG metadata; prefer the SEGMIND_API_KEY environment variable")
        base_url, storage_url = base_url.strip() or DEFAULT_BASE_URL, (storage_url or DEFAULT_STORAGE_URL).strip()
        key = choose_key(base_url, storage_url, api_key)
        config = RemoteConfig(base_url=base_url, storage_url=storage_url, api_key=key.key, key_origins=key.origins,
                              key_withheld_hint=key.withheld_hint)
        if key.withheld_hint:
            comfy_env.log.info("SegmindRemoteSwap: %s", key.withheld_hint)
        client = FaceswapClient(config, on_poll=comfy_env.poll_progress(config.deadline_s),
                                should_cancel=comfy_env.cancel_requested)
        with client:
            payload = {**params.to_mapping(),
                       "source_img": self._reference(client, "source", source_img, source_url, image_transport),
                       "target_img": self._reference(client, "target", target_img, target_url, image_transport)}
            try:
                result = client.swap_sync(payload) if mode == "sync" else client.swap_async(payload)
            except RemoteCancelled:
                comfy_env.raise_if_interrupted()  # ComfyUI's own interruption, not an error
                raise
        if result.remaining_credits is not None:
            comfy_env.log.info("Faceswap V3 API: %s credits left", result.remaining_credits)
        return (frames_to_image([decode_image(result.image, "the API's result")]), result.remaining_credits or "")

    @staticmethod
    def _reference(client: FaceswapClient, role: str, image, url: str, transport: str) -> str:
        if (url or "").strip():
            return url.strip()
        if image is None:
            raise BadInput(f"connect {role}_img or fill {role}_url")
        frames = image_to_frames(image)
        if not frames:
            raise BadInput(f"{role}_img is an empty batch")
        png = encode_image(frames[0], "png")
        if transport == "upload":
            return client.upload_asset(png, "image/png")
        import base64

        return base64.b64encode(png).decode("ascii")
