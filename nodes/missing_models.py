"""A run that meets a missing model file names every missing model file of the queued workflow at once, each
with its exact name and where to save it (before, each Run named one: detector, then CodeFormer, ...).

Each model-using node lists the files a run of it loads from its inputs (its `model_files`, made from the same
engine functions its loaders use); the workflow is ComfyUI's hidden PROMPT input (API format). The error is
raised at run time, not in VALIDATE_INPUTS: validation sees neither links nor the prompt, naming widgets there
turns off ComfyUI's own list check for them, and a failed download is only known once it is tried.

The prompt is a shared graph, read defensively: a value of the wrong type reads as the widget's default, a
node or field of another shape is skipped, and a file name from it is used only as a plain name inside the
pack's model folders."""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable

from ..pipeline.errors import FaceswapError, ModelMissing
from ..pipeline.models.missing import missing_files, missing_report
from ..pipeline.models.store import NeededModel
from ..pipeline.options import API_OPTIONS, EXTENSIONS
from .comfy_env import folders

log = logging.getLogger("faceswap_v3")
_NAME_LIMIT = 255
_LABEL_LIMIT = 60


class NodeInputs:
    """One node's inputs as the queued prompt gives them: widget values, and [node id, output] for a link."""

    def __init__(self, inputs: object) -> None:
        self._inputs = inputs if isinstance(inputs, dict) else {}

    def option(self, name: str) -> Any:
        """The widget value of option `name`, or its default where the value is missing, fed by a link or of
        another type."""
        option = API_OPTIONS.get(name) or EXTENSIONS[name]
        return self.value(name, option.default)

    def value(self, name: str, default: Any) -> Any:
        """The widget value, or default where it is missing, fed by a link or not of default's type (an int
        counts as a float)."""
        value = self._inputs.get(name)
        kind = type(default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value if type(value) is kind else default

    def connected(self, name: str) -> bool:
        """Whether a link feeds the input."""
        return _is_link(self._inputs.get(name))


def _is_link(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)) \
        and isinstance(value[1], int) and not isinstance(value[1], bool)


def reports_missing_models(run: Callable) -> Callable:
    """Wraps a node's FUNCTION: a ModelMissing it raises becomes one ModelMissing naming every missing model
    file of the queued workflow. The node declares the hidden input PROMPT; `run` gets `prompt` only where it
    takes it."""
    takes_prompt = "prompt" in inspect.signature(run).parameters

    @functools.wraps(run)
    def wrapped(self, *args, **kwargs):
        prompt = kwargs.get("prompt") if takes_prompt else kwargs.pop("prompt", None)
        try:
            return run(self, *args, **kwargs)
        except ModelMissing as failure:
            report = whole_workflow_failure(prompt, failure)
            if report is failure:
                raise
            raise report from failure

    return wrapped


def whole_workflow_failure(prompt: object, failure: ModelMissing) -> ModelMissing:
    """failure, extended to every model file of the prompt's nodes that is missing (failure itself where
    there is no prompt: the node was not run by ComfyUI)."""
    if not isinstance(prompt, dict):
        return failure
    store = folders.model_store()
    missing = missing_files(workflow_models(prompt), store, failure)
    if not missing:
        return failure
    return ModelMissing(missing_report(missing, store, failure), failure.name, failure.folders,
                        failure.download_failed)


def workflow_models(prompt: object) -> dict[NeededModel, list[str]]:
    """Every model file the pack's nodes in an API-format prompt load, and which nodes load it, in node order."""
    from . import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    needed: dict[NeededModel, list[str]] = {}
    if not isinstance(prompt, dict):
        return needed
    for node_id in sorted(prompt, key=_node_order):
        node = prompt[node_id]
        class_type = node.get("class_type") if isinstance(node, dict) else None
        node_class = NODE_CLASS_MAPPINGS.get(class_type) if isinstance(class_type, str) else None
        listing = getattr(node_class, "model_files", None)
        if listing is None:
            continue
        try:
            files = listing(NodeInputs(node.get("inputs")))
        except FaceswapError as exc:  # a value the node itself would refuse: it says so when it runs
            log.debug("model files of node %s not listed: %s", _printable(node_id), exc)
            continue
        label = _node_label(node_id, node, NODE_DISPLAY_NAME_MAPPINGS.get(class_type, class_type))
        for need in files:
            if need.entry is not None or _plain_file_name(need.name):
                users = needed.setdefault(need, [])
                if label not in users:
                    users.append(label)
    return needed


def _node_order(node_id: object) -> tuple:
    text = str(node_id)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _plain_file_name(name: str) -> bool:
    """A file name with no folder part: what a model widget offers (names in the pack's model folders)."""
    return 0 < len(name) <= _NAME_LIMIT and name not in (".", "..") and _printable(name, _NAME_LIMIT) == name \
        and "/" not in name and "\\" not in name


def _node_label(node_id: object, node: dict, display_name: str) -> str:
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    title = _printable(title) if isinstance(title, str) and title.strip() else display_name
    return f"node {_printable(node_id, 16)} '{title}'"


def _printable(text: object, limit: int = _LABEL_LIMIT) -> str:
    cleaned = "".join(c for c in str(text) if c.isprintable())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 3] + "..."
