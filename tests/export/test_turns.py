"""Answers that evoforge's own parser turns back into the child, byte for byte."""

from __future__ import annotations

from evoforge.export.turns import SEARCH_REPLACE, apply_answer, edit_answer, search_replace
from evoforge.operators.diff import child_from_diff

PARENT = """import math


# EVOLVE-BLOCK-START
def f(x):
    # a comment
    a = 1.0
    b = 2.0

    return a * x + b


# EVOLVE-BLOCK-END
def g():
    return f(1)
"""


def test_small_and_whole_block_changes_parse_back_exactly() -> None:
    tuned = PARENT.replace("b = 2.0", "b = 2.5")
    unparsed = PARENT.replace(
        "def f(x):\n    # a comment\n    a = 1.0\n    b = 2.0\n\n    return a * x + b\n\n\n",
        "def f(x):\n    a = 1.0\n    b = 2.0\n    return a * x + b\n",
    )
    for child in (tuned, unparsed):
        edits = search_replace(PARENT, child)
        assert edits is not None
        assert child_from_diff(PARENT, edits) == child
    answer = edit_answer("tune", PARENT, tuned)
    assert answer is not None and answer.startswith("I adjust numeric constants")
    assert child_from_diff(PARENT, answer) == tuned


def test_no_answer_for_an_unchanged_or_frozen_change() -> None:
    assert search_replace(PARENT, PARENT) is None
    assert search_replace(PARENT, PARENT.replace("return f(1)", "return f(2)")) is None


def test_an_answer_that_needs_lenient_matching_is_not_taken_as_exact() -> None:
    """A model's SEARCH text with a stray trailing space still applies in a run (lenient
    matching), but an export keeps only answers whose SEARCH texts are in the parent."""
    child = PARENT.replace("b = 2.0", "b = 2.5")
    exact = "<<<<<<< SEARCH\n    b = 2.0\n=======\n    b = 2.5\n>>>>>>> REPLACE\n"
    sloppy = "<<<<<<< SEARCH\n    b = 2.0   \n=======\n    b = 2.5\n>>>>>>> REPLACE\n"
    assert child_from_diff(PARENT, sloppy) == child  # what the run's operator accepts
    assert apply_answer(PARENT, exact, SEARCH_REPLACE) == child
    assert apply_answer(PARENT, sloppy, SEARCH_REPLACE) is None
