"""Each prompt ComfyUI is asked to queue (POST /prompt, API format), seen by the pack before ComfyUI
validates, caches and runs it: PromptServer's on-prompt handlers."""

from __future__ import annotations

import sys
from typing import Callable

_wrappers: dict[Callable, Callable] = {}


def on_each_prompt(handler: Callable[[object], None]) -> None:
    """Inside ComfyUI: handler(prompt) on every prompt queued from now on, which it may change in place; once,
    however often this is called. Elsewhere (tests, CLI) nothing happens."""
    server = getattr(getattr(sys.modules.get("server"), "PromptServer", None), "instance", None)
    if server is None or not hasattr(server, "add_on_prompt_handler"):
        return
    if handler not in _wrappers:
        def on_prompt(json_data):
            if isinstance(json_data, dict):
                handler(json_data.get("prompt"))
            return json_data

        _wrappers[handler] = on_prompt
    if _wrappers[handler] not in getattr(server, "on_prompt_handlers", ()):
        server.add_on_prompt_handler(_wrappers[handler])
