"""ComfyUI's API (prompt) format, checked against our nodes' INPUT_TYPES without ComfyUI.

The canvas format (positional widget values, the upload button's value, links by slot) belongs to
ComfyUI's frontend and is never written or read by hand here: tools/build_workflows.py has the real
frontend build and convert the example workflows, and tests/test_comfyui_browser.py runs them there.
The API format names every input, so it can be checked from INPUT_TYPES alone."""

from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


def check_prompt(prompt: dict, node_classes: dict) -> list[str]:
    """Every problem found in a prompt's nodes of the given classes ({class_type: node class}):
    missing required inputs, unknown inputs, invalid widget values, links to missing nodes. Nodes of
    other classes (ComfyUI's own) are left to ComfyUI."""
    problems = []
    for node_id, node in prompt.items():
        node_class = node_classes.get(node["class_type"])
        if node_class is None:
            continue
        input_types = node_class.INPUT_TYPES()
        required = input_types.get("required", {})
        specs = {**required, **input_types.get("optional", {})}
        where = f"node {node_id} ({node['class_type']})"
        inputs = node["inputs"]
        problems += [f"{where}: required input {name} is missing" for name in required if name not in inputs]
        for name, value in inputs.items():
            if name not in specs:
                problems.append(f"{where}: unknown input {name}")
            elif isinstance(value, list):
                if len(value) != 2 or value[0] not in prompt:
                    problems.append(f"{where}: {name} links to a missing node {value!r}")
            else:
                problems += [f"{where}: {problem}" for problem in check_value(specs[name], name, value)]
    return problems


def check_value(spec: tuple, name: str, value) -> list[str]:
    """Problems with one widget value for its INPUT_TYPES spec (none for a valid value)."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if isinstance(kind, list):
        # an upload combo's files (and an empty list of local files) are ComfyUI's to check at Run
        if options.get("image_upload") or not kind or value in kind:
            return []
        return [f"{name}={value!r} is not one of {kind}"]
    if kind not in WIDGET_TYPES:
        return [f"{name} takes a link ({kind}), not the value {value!r}"]
    if kind == "INT" and (not isinstance(value, int) or isinstance(value, bool)):
        return [f"{name}={value!r} is not an integer"]
    if kind == "FLOAT" and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        return [f"{name}={value!r} is not a number"]
    if kind in ("INT", "FLOAT") and not options.get("min", value) <= value <= options.get("max", value):
        return [f"{name}={value!r} is outside {options.get('min')}..{options.get('max')}"]
    if kind == "STRING" and not isinstance(value, str):
        return [f"{name}={value!r} is not a string"]
    if kind == "BOOLEAN" and not isinstance(value, bool):
        return [f"{name}={value!r} is not true/false"]
    return []
