"""SegmindRemoteSwap: the hosted Faceswap V3 API (or our own server) from a ComfyUI graph."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np

from ..pipeline.errors import BadInput
from ..pipeline.runtime.images import decode_image, encode_image
from ..pipeline.params import FaceswapParams
from ..client.api_key import OFFICIAL_BASE_URL, OFFICIAL_STORAGE_URL, KeyChoice, choose_key
from ..client.segmind_client import FaceswapClient, RemoteCancelled, RemoteConfig, RemoteError
from .comfy_env import cancel, progress, toasts
from .all_in_one import api_widgets
from .widgets import added_option_widgets
from .tensors import frames_to_image, image_to_frames

log = logging.getLogger("faceswap_v3")
# A result frame becomes a float32 IMAGE of 12 bytes per pixel: 40 MP (an 8K frame is 33 MP) is 480 MB.
MAX_RESULT_PIXELS = 40_000_000


@contextmanager
def _naming_the_key(key: KeyChoice, address: str):
    """A 401 from address says which key was refused (the typed one, the environment's, the key file's) or that
    none was sent, rather than the client's generic "set SEGMIND_API_KEY"."""
    try:
        yield
    except RemoteError as exc:
        if exc.status != 401:
            raise
        raise RemoteError(key.refused(address), 401) from None


class SegmindRemoteSwap:
    CATEGORY = "Faceswap V3/remote"
    DESCRIPTION = ("Call Segmind's hosted Faceswap V3 API (or a local `python -m faceswap_v3 serve`). Same widgets "
                   "as the all-in-one local node. The API key comes from SEGMIND_API_KEY or a key file and "
                   "goes only to Segmind's own addresses unless SEGMIND_ALLOW_CUSTOM_BASE_URL=1.")
    RETURN_TYPES = ("IMAGE", "STRING", "STRING")
    RETURN_NAMES = ("image", "remaining_credits", "info")
    OUTPUT_TOOLTIPS = ("The swapped images the API returned, one per target frame.",
                       "The credits left on the account, as the API reported them (empty if it did not).",
                       "Frames swapped, where (the API's address) and the run's warnings.")
    FUNCTION = "swap"

    @classmethod
    def INPUT_TYPES(cls):
        inputs = {
            "required": {
                **api_widgets(None),  # the API's values and its base64 switch
                "mode": (["sync", "async"], {"default": "sync",
                                             "tooltip": "sync: one blocking call. async: submit, then poll "
                                                        "(for long jobs; Cancel stops the polling)."}),
                "image_transport": (["upload", "base64"], {
                    "default": "upload",
                    "tooltip": "How IMAGE inputs reach the API: uploaded to Segmind's asset storage and sent as "
                               "URLs (as the API documents), or inlined as base64 in the request."}),
                "base_url": ("STRING", {"default": OFFICIAL_BASE_URL,
                                        "tooltip": "The API's address; point it at a local server to use it."}),
            },
            "optional": {
                "source_img": ("IMAGE", {"tooltip": "The face to use (first frame)."}),
                "target_img": ("IMAGE", {"tooltip": "The image or frames whose faces get replaced: one API call "
                                                    "per frame."}),
                "source_url": ("STRING", {"default": "", "tooltip": "Instead of source_img: an image URL."}),
                "target_url": ("STRING", {"default": "", "tooltip": "Instead of target_img: an image URL."}),
                "storage_url": ("STRING", {"default": OFFICIAL_STORAGE_URL,
                                           "tooltip": "Where IMAGE inputs are uploaded with image_transport=upload."}),
                "api_key": ("STRING", {"default": "",
                                       "tooltip": "Better left empty: set SEGMIND_API_KEY instead. A key typed here "
                                                  "is saved in the workflow and in every PNG's metadata."}),
            },
        }
        inputs["optional"].update(added_option_widgets({**inputs["required"], **inputs["optional"]}, api_only=True))
        return inputs

    def swap(self, mode, image_transport, base_url, source_img=None, target_img=None, source_url="",
             target_url="", storage_url=OFFICIAL_STORAGE_URL, api_key="", **api):
        params = FaceswapParams.from_mapping(api)
        warnings = []
        if (api_key or "").strip():
            warnings.append("the API key typed into SegmindRemoteSwap is saved in the workflow and in every PNG's "
                            "metadata; clear the api_key widget and set the SEGMIND_API_KEY environment variable")
            toasts.warn(warnings[-1])
        targets = self._target_frames(target_img, target_url)
        base_url, storage_url = base_url.strip() or OFFICIAL_BASE_URL, (storage_url or OFFICIAL_STORAGE_URL).strip()
        key = choose_key(base_url, storage_url, api_key)
        config = RemoteConfig(base_url=base_url, storage_url=storage_url, api_key=key.key, key_origins=key.origins,
                              key_withheld_hint=key.withheld_hint)
        if key.withheld_hint:
            log.info("SegmindRemoteSwap: %s", key.withheld_hint)
        on_poll, after_frame = progress.job_progress(len(targets))
        client = FaceswapClient(config, on_poll=on_poll, should_cancel=cancel.cancel_requested)
        images = []
        with client:
            with _naming_the_key(key, storage_url):
                source = self._reference(client, "source", source_img, source_url, image_transport)
            for i, target in enumerate(targets):
                with _naming_the_key(key, storage_url):
                    target = target if isinstance(target, str) else self._reference(client, "target", target, "",
                                                                                      image_transport)
                payload = {**params.to_mapping(), "source_img": source, "target_img": target}
                try:
                    with _naming_the_key(key, base_url):
                        result = client.swap_sync(payload) if mode == "sync" else client.swap_async(payload)
                except RemoteCancelled:
                    cancel.raise_if_interrupted()  # ComfyUI's own interruption, not an error
                    raise
                images.append(decode_image(result.image, "the API's result (Remote Swap's MAX_RESULT_PIXELS)",
                                           max_pixels=MAX_RESULT_PIXELS))
                if after_frame:
                    after_frame(i)
                cancel.raise_if_interrupted()
        credits = client.remaining_credits
        if credits is not None:
            log.info("Faceswap V3 API: %s credits left", credits)
        sizes = {image.shape for image in images}
        if len(sizes) > 1:
            raise BadInput(f"the API returned frames of different sizes ({sorted(sizes)}); they cannot form one batch")
        info = "\n".join([f"frames swapped by {config.base_url} ({mode}): {len(images)}",
                          *(f"warning: {w}" for w in warnings)])
        return (frames_to_image(images), credits or "", info)

    @staticmethod
    def _target_frames(target_img, target_url: str) -> list:
        """The target URL alone, or every frame of target_img (one API call each)."""
        if (target_url or "").strip():
            return [target_url.strip()]
        if target_img is None:
            raise BadInput("connect target_img or fill target_url")
        frames = image_to_frames(target_img)
        if not frames:
            raise BadInput("target_img is an empty batch")
        return frames

    @staticmethod
    def _reference(client: FaceswapClient, role: str, image, url: str, transport: str) -> str:
        """A URL or base64 text for the API: the URL given, else the image (a first frame or a frame array)."""
        if (url or "").strip():
            return url.strip()
        if image is None:
            raise BadInput(f"connect {role}_img or fill {role}_url")
        frames = [image] if isinstance(image, np.ndarray) else image_to_frames(image[:1])
        if not frames:
            raise BadInput(f"{role}_img is an empty batch")
        png = encode_image(frames[0], "png")
        if transport == "upload":
            return client.upload_asset(png, "image/png")
        import base64

        return base64.b64encode(png).decode("ascii")
