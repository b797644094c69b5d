"""The curation code a piece of work depends on: a module and every curation module it imports.

Stage fingerprints (:func:`curation.pipeline.code_files`) and the ids of stored pixel checks
(:func:`curation.dedupe.checks.check_id`) hash these files, so editing a module that a result
depends on, however indirectly, makes the result be computed again.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def module_file(name: str) -> Path | None:
    """curation.x.y -> its file (a module or a package's __init__), None when not in the package."""
    parts = name.split(".")
    if parts[0] != "curation":
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """The curation modules a file imports anywhere in it (functions' lazy imports included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names if module_file(f"{target}.{alias.name}")}
            found.update(submodules or {target})  # `from .. import decisions` needs decisions, not the package
    return {name for name in found if module_file(name) is not None}


def module_closure(modules: Iterable[str], whole_packages: bool = False) -> dict[str, Path]:
    """Every curation module that ``modules`` import, directly or not, with themselves: name -> file.

    With ``whole_packages`` a package brings all of its modules (a stage package: what the stage
    runs is every module in it)."""
    todo = list(modules)
    seen: dict[str, Path] = {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module)
        if path is None:
            raise ValueError(f"{module!r} is not a curation module")
        seen[module] = path
        if whole_packages and path.name == "__init__.py" and module != "curation":
            todo += [f"{module}.{p.stem}" for p in path.parent.glob("*.py") if p.stem != "__init__"]
        todo += sorted(imported_modules(path, module) - seen.keys())
    return seen
