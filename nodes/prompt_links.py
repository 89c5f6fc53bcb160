"""Where a node's output goes in the queued prompt (ComfyUI's hidden PROMPT input, API format)."""

from __future__ import annotations

SWAP_FACES = "FaceswapV3SwapFaces"


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
