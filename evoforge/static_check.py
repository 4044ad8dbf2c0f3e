"""Static name check before evaluation: refusing children that use a name never defined.

Many broken children fail at their first run with ``NameError`` or ``UnboundLocalError``:
an edit moved a use above its assignment, deleted the assignment, or an answer used a
helper it never wrote. pyflakes finds these without running the code. A child is refused
only for problems its parent does not already have, so a flagged pattern in the frozen
code (pyflakes is flow-insensitive: a name first assigned late in a loop body and read on
later iterations looks undefined to it) never blocks a whole run.

Problems are compared as ``"<kind> '<name>'"`` strings, without line numbers, so an edit
that shifts lines does not make the parent's problems look new.
"""

from __future__ import annotations

import ast

from pyflakes import checker, messages

from evoforge.text_memo import TextMemo

__all__ = ["inherit_problems", "name_problems", "new_name_problems"]

_KINDS: dict[type[messages.Message], str] = {
    messages.UndefinedName: "undefined name",
    messages.UndefinedLocal: "local name used before assignment",
}


def name_problems(code: str, tree: ast.Module | None = None) -> frozenset[str]:
    """The undefined-name problems pyflakes finds in ``code`` (empty if it does not parse).

    ``tree``: ``ast.parse(code)`` where the caller has it, else None (pyflakes only adds
    its own bookkeeping attributes to the nodes). The latest 1024 answers are memoised by
    text.
    """
    return _PROBLEMS.get(code, lambda: _name_problems(code, tree))


def _name_problems(code: str, tree: ast.Module | None) -> frozenset[str]:
    if tree is None:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError):
            return frozenset()
    try:
        found = checker.Checker(tree, filename="<candidate>").messages
    except RecursionError:  # absurdly deep code: leave it to the sandbox
        return frozenset()
    problems: set[str] = set()
    for message in found:
        kind = _KINDS.get(type(message))
        if kind is not None:
            problems.add(f"{kind} {message.message_args[0]!r}")
    return frozenset(problems)


def new_name_problems(
    parent_code: str, child_code: str, child_tree: ast.Module | None = None
) -> list[str]:
    """The child's undefined-name problems that the parent does not have, sorted
    (``child_tree``: see :func:`name_problems`)."""
    return sorted(name_problems(child_code, child_tree) - name_problems(parent_code))


def inherit_problems(parent_code: str, child_code: str) -> None:
    """Record ``parent_code``'s problems as ``child_code``'s, for a child that differs from
    its parent in numeric literals alone (it binds and reads the same names, so pyflakes
    would find the same): asking for the child's later needs no run of its own."""
    _PROBLEMS.get(child_code, lambda: name_problems(parent_code))


_PROBLEMS: TextMemo[frozenset[str]] = TextMemo(1024)
