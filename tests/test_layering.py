"""Production code does not depend on the evaluation experiments: nepagn.evaluation imports model/, never back."""

import ast
from pathlib import Path

import nepagn

PACKAGE = Path(nepagn.__file__).parent
PRODUCTION = ("model", "pipeline", "update", "commands/train.py")


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` anywhere in the file names (function bodies included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_production_module_imports_the_evaluation_package():
    files = [f for part in PRODUCTION for f in ((PACKAGE / part).rglob("*.py") if (PACKAGE / part).is_dir()
                                                 else [PACKAGE / part])]
    assert any(f.name == "hgb_training.py" for f in files)
    offenders = {str(f.relative_to(PACKAGE)): sorted(m for m in imported_modules(f)
                                                     if m == "nepagn.evaluation" or m.startswith("nepagn.evaluation."))
                 for f in files}
    assert {f: m for f, m in offenders.items() if m} == {}
