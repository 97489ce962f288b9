"""The layer order of docs/architecture.md: no part of nepagn imports a part above it.

Layers, lowest first (a part may import its own layer and those below):
  core        the top-level modules (nepagn/*.py: schema, bands, store, files, tasks, cluster, ...)
  simulate    the mock catalogue and simulated surveys
  model       networks, training, recipes, MODELDIR, ModelSet
  pipeline    build-catalogue: partition tasks, merge, summary, the catalogue's files and figures
  update      incremental updates, and the position crossmatch they use (update, crossmatch)
  experiments evaluation and report: experiments and figures over stored results
  interface   the command line (cli, commands) and what only commands use (locks)
Imports inside functions count too.
"""

import ast
from pathlib import Path

import nepagn

PACKAGE = Path(nepagn.__file__).parent
LAYERS = (
    ("core",),
    ("simulate",),
    ("model",),
    ("pipeline",),
    ("update", "crossmatch"),
    ("evaluation", "report"),
    ("commands", "cli", "locks"),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """The layer part of a dotted nepagn module name: its subpackage, a named top-level module, or core."""
    name = module.split(".")[1] if module.count(".") else ""
    return name if name in RANK else "core"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(part for part in relative.parts if part != "__init__")


def imported_modules(path: Path) -> set[str]:
    """Every nepagn module an `import` or `from ... import` anywhere in the file names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.startswith("nepagn.")}


def test_no_module_imports_a_layer_above_its_own():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 90 and all(part in {part_of(module_name(f)) for f in files} for part in RANK)
    upward = {}
    for path in files:
        own = part_of(module_name(path))
        above = sorted(m for m in imported_modules(path) if RANK[part_of(m)] > RANK[own])
        if above:
            upward[module_name(path)] = above
    assert upward == {}


def test_production_code_never_imports_the_evaluation_experiments():
    """The catalogue's training and inference use nepagn.model's recipes and fold fitting, not nepagn.evaluation."""
    production = [f for f in PACKAGE.rglob("*.py")
                  if part_of(module_name(f)) in ("core", "model", "pipeline", "update")]
    assert any(f.name == "hgb_training.py" for f in production)
    assert not [f for f in production if any(m.startswith("nepagn.evaluation") for m in imported_modules(f))]
