"""The engine is grouped by stage, and its imports keep the layers: a module imports from its own stage, the
layers below it and the shared bottom; no stage imports another. A newcomer adding a detector, a mask model,
a restorer or a runtime sees from the folder where it goes (docs/development.md, Layout)."""

from __future__ import annotations

import ast

from support import REPO

ENGINE = REPO / "pipeline"
# lowest first; a module may import from its own group and from any layer listed before its own
LAYERS = (
    ("bottom", ("errors", "options", "job_contract", "face", "models.registry")),
    ("models", ("models",)),
    ("runtime", ("runtime",)),
    ("geometry", ("geometry",)),
    ("stage", ("analysis", "swap", "restore", "provenance", "content_check")),
    ("surface", ("params", "job", "swap_plan", "swap_models", "run_report")),
)


def group_of(module: str) -> tuple[int, str]:
    """(layer, group) of a module named relative to pipeline/, e.g. 'analysis.detectors.scrfd'."""
    best = None
    for level, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (level, prefix)
    assert best is not None, f"pipeline/{module.replace('.', '/')} belongs to no layer: add it to LAYERS"
    return best


def engine_imports(path) -> set[str]:
    """The engine modules a file imports (named relative to pipeline/), leaving out `if TYPE_CHECKING:` ones."""
    parts = list(path.relative_to(ENGINE).with_suffix("").parts)
    package = parts[:-1]
    tree = ast.parse(path.read_text())
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
               for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = ["pipeline", *package][:len(package) + 2 - node.level]
            if not base:
                continue  # outside the engine: test_layout.py keeps those out
            target = base[1:] + (node.module.split(".") if node.module else [])
        elif node.module and node.module.startswith("faceswap_v3.pipeline."):
            target = node.module.split(".")[2:]
        else:
            continue
        for alias in node.names:  # `from .analysis import detectors` names a module
            named = ENGINE.joinpath(*target, alias.name)
            found.add(".".join([*target, alias.name] if named.is_dir() or named.with_suffix(".py").exists()
                               else target))
    return {name for name in found if name}


def layering_faults() -> list[str]:
    faults = []
    for path in sorted(ENGINE.rglob("*.py")):
        module = ".".join(path.relative_to(ENGINE).with_suffix("").parts).removesuffix(".__init__")
        if "__pycache__" in path.parts or module == "__init__":
            continue
        level, group = group_of(module)
        for imported in engine_imports(path):
            their_level, their_group = group_of(imported)
            across = their_level == level and their_group != group and LAYERS[level][0] == "stage"
            if their_level > level or across:
                faults.append(f"pipeline/{module} ({LAYERS[level][0]} {group}) imports {imported} "
                              f"({LAYERS[their_level][0]} {their_group})")
    return faults


def test_every_engine_import_goes_down_the_layers_or_stays_in_its_stage():
    assert layering_faults() == []


def test_the_layers_place_each_kind_of_module():
    assert group_of("analysis.detectors.scrfd") == (4, "analysis")
    assert group_of("models.registry") == (0, "models.registry")
    assert group_of("models.store") == (1, "models")
    assert group_of("swap_models") == (5, "swap_models")
