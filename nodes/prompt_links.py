"""Where a node's output goes in the queued prompt (ComfyUI's hidden PROMPT input, API format), and which
batch-sized outputs of the swapping nodes nobody reads (so they are never built; inside ComfyUI every queued
prompt is marked by mark_unread_outputs, comfy_env/prompt_handler.py)."""

from __future__ import annotations

from .widgets import SWAP_RETURN_NAMES

SWAP_FACES = "FaceswapV3SwapFaces"
ALL_IN_ONE = "FaceswapV3"
# batch-sized outputs a node may leave unbuilt when nothing reads them: class_type -> {output name: index}
SKIPPABLE = {node: {"mask": SWAP_RETURN_NAMES.index("mask")} for node in (ALL_IN_ONE, SWAP_FACES)}
# An input mark_unread_outputs writes into such a node: the names of its outputs nothing reads. ComfyUI keys a
# node's cached outputs by its inputs (not by what reads them), so without it a run that left the mask out
# would be reused, mask and all, after a Preview is linked to the mask. Not a declared input: validation
# ignores it, the cache key includes it.
UNREAD = "faceswap_v3_unread_outputs"


def consumers(prompt: object, node_id: object, output: int) -> set[tuple[str, str]]:
    """(class_type, input name) of every input the node's output feeds. The prompt is a shared graph:
    anything that is not the API format's shape is skipped, never trusted."""
    if not isinstance(prompt, dict) or node_id is None:
        return set()
    fed = set()
    for node in prompt.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for name, value in inputs.items():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) == str(node_id) and value[1] == output:
                fed.add((str(node.get("class_type")), str(name)))
    return fed


def mark_unread_outputs(prompt: object) -> None:
    """Write UNREAD into every swapping node of an API-format prompt (in place): its skippable outputs that
    no input of the prompt reads, comma-separated; the key is removed where all are read."""
    if not isinstance(prompt, dict):
        return
    for node_id, node in prompt.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        skippable = SKIPPABLE.get(node.get("class_type")) if isinstance(inputs, dict) else None
        if not skippable:
            continue
        unread = [name for name, output in skippable.items() if not consumers(prompt, node_id, output)]
        if unread:
            inputs[UNREAD] = ",".join(unread)
        else:
            inputs.pop(UNREAD, None)


def output_unread(prompt: object, node_id: object, name: str) -> bool:
    """True only when mark_unread_outputs marked the node's output `name` unread (so ComfyUI's cache tells
    the runs apart) and no input of the prompt reads it. Outside a queued prompt (no PROMPT): False."""
    node = prompt.get(str(node_id)) if isinstance(prompt, dict) and node_id is not None else None
    inputs = node.get("inputs") if isinstance(node, dict) else None
    output = SKIPPABLE.get(node.get("class_type"), {}).get(name) if isinstance(inputs, dict) else None
    marked = inputs.get(UNREAD) if output is not None else None
    return isinstance(marked, str) and name in marked.split(",") and not consumers(prompt, node_id, output)
