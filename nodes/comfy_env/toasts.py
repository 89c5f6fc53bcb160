"""Warnings on screen: a toast (web/faceswap_v3_toasts.js) for the user who queued the prompt."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("faceswap_v3")
WARNING_EVENT = "faceswap_v3.warning"  # shown as a toast by web/faceswap_v3_toasts.js


def warn(message: str) -> None:
    """Log a warning and, inside ComfyUI, show it on screen to the user who queued the prompt."""
    log.warning("Faceswap V3: %s", message)
    toast(message)


MAX_TOASTS = 3  # per node run; a batch of frames without faces must not bury the screen


def toast(message: str) -> None:
    """Show a warning on screen (the web page's toast) to the user who queued the prompt."""
    server = getattr(getattr(sys.modules.get("server"), "PromptServer", None), "instance", None)
    if server is None:
        return
    node = None
    try:
        from comfy_execution.utils import get_executing_context

        context = get_executing_context()
        node = context.node_id if context is not None else None
    except ImportError:
        pass
    server.send_sync(WARNING_EVENT, {"message": message, "node": node}, server.client_id)


def show_warnings(messages: list[str]) -> None:
    """Toasts for warnings the pipeline has already logged (the first few, then a count)."""
    for message in messages[:MAX_TOASTS]:
        toast(message)
    if len(messages) > MAX_TOASTS:
        more = len(messages) - MAX_TOASTS
        toast(f"... and {more} more warning{'s' if more > 1 else ''}: see the node's info output")
