"""The names a Python module binds at its top level, read from its syntax tree.

Loading a problem checks which entry points ``evaluator.py`` offers without running it.
An entry point may be a ``def``, but also a name the module imports (``from common import
evaluate``) or assigns (``evaluate = functools.partial(...)``), possibly inside a top-level
``if``, ``try`` or ``with``. Function and class bodies bind nothing at the top level.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

STAR = "*"
"""In :func:`top_level_names` when the module has ``from x import *`` (any name may be bound)."""


def top_level_names(tree: ast.Module) -> set[str]:
    """Every name bound by the module's top-level statements (and :data:`STAR` for a star
    import, whose names cannot be known without importing)."""
    names: set[str] = set()
    _collect(tree.body, names)
    return names


def _collect(statements: Iterable[ast.stmt], names: set[str]) -> None:
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                _targets(target, names)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            _targets(node.target, names)
        elif isinstance(node, ast.If | ast.While | ast.For | ast.AsyncFor):
            if isinstance(node, ast.For | ast.AsyncFor):
                _targets(node.target, names)
            _collect(node.body, names)
            _collect(node.orelse, names)
        elif isinstance(node, ast.Try | ast.TryStar):
            _collect(node.body, names)
            for handler in node.handlers:
                _collect(handler.body, names)
            _collect(node.orelse, names)
            _collect(node.finalbody, names)
        elif isinstance(node, ast.With | ast.AsyncWith):
            _collect(node.body, names)


def _targets(target: ast.expr, names: set[str]) -> None:
    if isinstance(target, ast.Name):
        names.add(target.id)
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            _targets(element, names)
    elif isinstance(target, ast.Starred):
        _targets(target.value, names)
