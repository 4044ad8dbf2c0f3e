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
import functools

from pyflakes import checker, messages

__all__ = ["name_problems", "new_name_problems"]

_KINDS: dict[type[messages.Message], str] = {
    messages.UndefinedName: "undefined name",
    messages.UndefinedLocal: "local name used before assignment",
}


@functools.lru_cache(maxsize=1024)
def name_problems(code: str) -> frozenset[str]:
    """The undefined-name problems pyflakes finds in ``code`` (empty if it does not parse)."""
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


def new_name_problems(parent_code: str, child_code: str) -> list[str]:
    """The child's undefined-name problems that the parent does not have, sorted."""
    return sorted(name_problems(child_code) - name_problems(parent_code))
