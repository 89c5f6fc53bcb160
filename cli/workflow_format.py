"""ComfyUI's two workflow formats: the canvas (UI) format and the API (prompt) format.

ComfyUI itself converts canvas to prompt only in the browser, from each node's input order; this
module does the same from INPUT_TYPES, for our nodes and the few core nodes our examples use.
"""

from __future__ import annotations

from dataclasses import dataclass

FRONTEND_ONLY = {"Note", "MarkdownNote"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}

# ComfyUI core nodes the example workflows use, as ComfyUI 0.3.x defines them (nodes.py).
CORE_NODES = {
    "LoadImage": ({"required": {"image": ([], {"image_upload": True})}}, ("IMAGE", "MASK")),
    "ImageScale": ({"required": {"image": ("IMAGE",),
                                 "upscale_method": (["nearest-exact", "bilinear", "area", "bicubic", "lanczos"],),
                                 "width": ("INT", {"default": 512, "min": 0, "max": 16384, "step": 1}),
                                 "height": ("INT", {"default": 512, "min": 0, "max": 16384, "step": 1}),
                                 "crop": (["disabled", "center"],)}}, ("IMAGE",)),
    "ImageBatch": ({"required": {"image1": ("IMAGE",), "image2": ("IMAGE",)}}, ("IMAGE",)),
    "SaveImage": ({"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})}}, ()),
    "PreviewImage": ({"required": {"images": ("IMAGE",)}}, ()),
}


@dataclass(frozen=True)
class NodeDefinition:
    inputs: dict  # name -> spec, required then optional, in INPUT_TYPES order
    required: frozenset
    outputs: tuple

    @classmethod
    def from_input_types(cls, input_types: dict, outputs: tuple) -> "NodeDefinition":
        inputs = {**input_types.get("required", {}), **input_types.get("optional", {})}
        return cls(inputs, frozenset(input_types.get("required", {})), tuple(outputs))

    def is_widget(self, name: str) -> bool:
        kind = self.inputs[name][0]
        return isinstance(kind, list) or kind in WIDGET_TYPES

    def widget_names(self) -> list[str]:
        return [name for name in self.inputs if self.is_widget(name)]

    def socket_names(self) -> list[str]:
        return [name for name in self.inputs if not self.is_widget(name)]

    def uploads(self, name: str) -> bool:
        spec = self.inputs[name]
        return len(spec) > 1 and bool(spec[1].get("image_upload"))


def node_definitions(core_overrides: dict | None = None) -> dict[str, NodeDefinition]:
    """Our nodes (from NODE_CLASS_MAPPINGS) and the core nodes above."""
    from ..nodes import NODE_CLASS_MAPPINGS

    definitions = {name: NodeDefinition.from_input_types(cls.INPUT_TYPES(), cls.RETURN_TYPES)
                   for name, cls in NODE_CLASS_MAPPINGS.items()}
    for name, (input_types, outputs) in {**CORE_NODES, **(core_overrides or {})}.items():
        definitions[name] = NodeDefinition.from_input_types(input_types, outputs)
    return definitions


def widget_values_by_name(node: dict, definition: NodeDefinition) -> dict:
    """Read a canvas node's positional widgets_values back into {name: value}."""
    values = list(node.get("widgets_values") or [])
    named = {}
    for name in definition.widget_names():
        if not values:
            break
        named[name] = values.pop(0)
        if definition.uploads(name) and values:
            values.pop(0)  # the upload button's own value ("image")
    return named


def canvas_to_prompt(canvas: dict, definitions: dict[str, NodeDefinition]) -> dict:
    """The API (prompt) format of a canvas workflow: {node id: {class_type, inputs, _meta}}."""
    links = {link[0]: link for link in canvas["links"]}
    prompt = {}
    for node in sorted(canvas["nodes"], key=lambda n: n["id"]):
        if node["type"] in FRONTEND_ONLY or node.get("mode", 0) == 4:
            continue
        definition = definitions[node["type"]]
        inputs = dict(widget_values_by_name(node, definition))
        for socket in node.get("inputs", []):
            if socket.get("link") is not None:
                _, from_node, from_slot, *_ = links[socket["link"]]
                inputs[socket["name"]] = [str(from_node), from_slot]
        ordered = {name: inputs[name] for name in definition.inputs if name in inputs}
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": ordered,
                                   "_meta": {"title": node.get("title", node["type"])}}
    return prompt


def check_canvas(canvas: dict, definitions: dict[str, NodeDefinition]) -> list[str]:
    """Every problem found: unknown node types, invalid widget values, mistyped or dangling links,
    required inputs left unconnected."""
    problems = []
    nodes = {node["id"]: node for node in canvas["nodes"]}
    for node in canvas["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        if node["type"] not in definitions:
            problems.append(f"node {node['id']}: unknown type {node['type']}")
            continue
        definition = definitions[node["type"]]
        values = widget_values_by_name(node, definition)
        for name in definition.widget_names():
            if name not in values:
                problems.append(f"node {node['id']} ({node['type']}): no value for widget {name}")
                continue
            problems += [f"node {node['id']} ({node['type']}): {p}" for p in _check_value(definition.inputs[name],
                                                                                          name, values[name])]
        linked = {s["name"] for s in node.get("inputs", []) if s.get("link") is not None}
        for name in definition.socket_names():
            if name in definition.required and name not in linked:
                problems.append(f"node {node['id']} ({node['type']}): required input {name} is not connected")
    for link_id, from_id, from_slot, to_id, to_slot, kind in canvas["links"]:
        source, target = nodes.get(from_id), nodes.get(to_id)
        if source is None or target is None:
            problems.append(f"link {link_id}: joins a missing node")
            continue
        out_type = definitions[source["type"]].outputs[from_slot]
        socket = target["inputs"][to_slot]
        in_type = definitions[target["type"]].inputs[socket["name"]][0]
        if not (out_type == in_type == kind) or socket.get("link") != link_id:
            problems.append(f"link {link_id}: {source['type']} output {out_type} -> {target['type']}.{socket['name']} "
                            f"({in_type}), declared {kind}")
    return problems


def _check_value(spec: tuple, name: str, value) -> list[str]:
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if isinstance(kind, list):
        return [] if (value in kind or not kind) else [f"{name}={value!r} is not one of {kind}"]
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
