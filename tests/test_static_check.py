"""The static name check: undefined names and early uses, counted against the parent."""

from __future__ import annotations

from evoforge.static_check import inherit_problems, name_problems, new_name_problems

PARENT = """\
import numpy as np

SCALE = 2.0


def score(x):
    y = np.abs(x) * SCALE
    return y + 1
"""


def test_clean_code_has_no_problems() -> None:
    assert name_problems(PARENT) == frozenset()


def test_undefined_name_and_use_before_assignment_are_found() -> None:
    undefined = PARENT.replace("return y + 1", "return y + offset")
    assert new_name_problems(PARENT, undefined) == ["undefined name 'offset'"]
    early = PARENT.replace("    y = np.abs(x) * SCALE\n", "    z = y\n    y = np.abs(x)\n")
    assert new_name_problems(PARENT, early) == ["undefined name 'y'"]
    shadowed = PARENT.replace("y = np.abs(x) * SCALE", "y = SCALE\n    SCALE = 3")
    assert new_name_problems(PARENT, shadowed) == ["local name used before assignment 'SCALE'"]


def test_problems_the_parent_already_has_are_not_new() -> None:
    # a read of a name first assigned later in a loop body runs fine on later iterations,
    # but looks undefined to a flow-insensitive check: it must not block the parent's line
    looped = PARENT + (
        "\n\ndef tail(n):\n    for i in range(n):\n        if i:\n            last = prev\n"
        "        prev = i\n    return n\n"
    )
    assert name_problems(looped) == frozenset({"undefined name 'prev'"})
    edited = looped.replace("return y + 1", "return y + 2")
    assert new_name_problems(looped, edited) == []
    shifted = "# a comment that moves every line\n" + looped
    assert new_name_problems(looped, shifted) == []


def test_unparsable_code_is_left_to_the_syntax_check() -> None:
    assert name_problems("def broken(:\n") == frozenset()


def test_builtins_and_imported_names_are_not_undefined() -> None:
    code = (
        "import math\nfrom os.path import join as j\n\n"
        "def f(p):\n    return len(p), math.pi, j(p), __file__\n"
    )
    assert name_problems(code) == frozenset()


def test_a_child_inherits_its_parents_problems_without_a_check_of_its_own() -> None:
    parent = "def f():\n    return y * 2.5\n"
    child = "def f():\n    return y * 3.25\n"  # numbers alone changed: tune's children
    inherit_problems(parent, child)
    assert name_problems(child) == name_problems(parent) == {"undefined name 'y'"}
    assert new_name_problems(parent, child) == []
    # what is recorded is what the child gets: told a different text's problems (which
    # no caller does), it reports those, not pyflakes' own answer
    unrelated = "def g():\n    return 1.0\n"
    inherit_problems(parent, unrelated)
    assert name_problems(unrelated) == {"undefined name 'y'"}
