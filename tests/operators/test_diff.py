"""Reading model answers: SEARCH/REPLACE edits and whole programs, in the shapes real
models produce; anything unusable is an AnswerError with a reason, never a crash."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.blocks import frozen_violation
from evoforge.operators.diff import (
    AnswerError,
    child_from_diff,
    child_from_rewrite,
    parse_edits,
)

PARENT = '''"""Doc."""
import math


def helper(v):
    return v + 1


# EVOLVE-BLOCK-START
def solve(x):
    total = 0
    for i in range(3):
        total += i * x
    return total
# EVOLVE-BLOCK-END


def main():
    return solve(2)
'''


def test_exact_edit_in_a_fenced_block_with_prose() -> None:
    answer = (
        "Let me change the loop.\n```python\n<<<<<<< SEARCH\n        total += i * x\n=======\n"
        "        total += i * x * 2\n>>>>>>> REPLACE\n```\nThat doubles it."
    )
    child = child_from_diff(PARENT, answer)
    assert "total += i * x * 2" in child and child.endswith("return solve(2)\n")


def test_several_edits_and_longer_markers() -> None:
    answer = (
        "<<<<<<<< SEARCH\n    total = 0\n========\n    total = 1\n>>>>>>>> REPLACE\n\n"
        "<<<<<<< SEARCH\n    return total\n=======\n    return total - 1\n>>>>>>> REPLACE"
    )
    assert len(parse_edits(answer)) == 2
    child = child_from_diff(PARENT, answer)
    assert "total = 1" in child and "return total - 1" in child


def test_whitespace_tolerant_match_reindents() -> None:
    answer = (
        "<<<<<<< SEARCH\nfor i in range(3):\n    total += i * x\n=======\n"
        "for i in range(4):\n    total += i * x\n>>>>>>> REPLACE"
    )
    child = child_from_diff(PARENT, answer)
    assert "    for i in range(4):\n        total += i * x\n" in child


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("just prose", "no SEARCH/REPLACE"),
        ("<<<<<<< SEARCH\n    nothing here\n=======\nx\n>>>>>>> REPLACE", "not found"),
        ("<<<<<<< SEARCH\n    return v + 1\n=======\n    return v\n>>>>>>> REPLACE", "frozen"),
        ("<<<<<<< SEARCH\n\n=======\nx = 1\n>>>>>>> REPLACE", "empty SEARCH"),
    ],
)
def test_unusable_edits_give_reasons(answer: str, fragment: str) -> None:
    with pytest.raises(AnswerError, match=fragment):
        child_from_diff(PARENT, answer)


def test_rewrite_without_language_tag_or_markers() -> None:
    answer = "Try this:\n```\ndef solve(x):\n    return 3 * x\n```"
    child = child_from_rewrite(PARENT, answer)
    assert "return 3 * x" in child and "def helper(v)" in child


def test_rewrite_whole_program_keeps_frozen_code_or_is_refused() -> None:
    whole = PARENT.replace("total = 0", "total = 5")
    assert "total = 5" in child_from_rewrite(PARENT, f"```python\n{whole}```")
    broken = whole.replace("return solve(2)", "return 99")
    with pytest.raises(AnswerError, match="frozen"):
        child_from_rewrite(PARENT, f"```python\n{broken}```")


def test_rewrite_of_blocks_only_with_markers() -> None:
    answer = "```py\n# EVOLVE-BLOCK-START\ndef solve(x):\n    return x\n# EVOLVE-BLOCK-END\n```"
    assert "    return x\n" in child_from_rewrite(PARENT, answer)


def test_prose_only_rewrite_is_refused() -> None:
    with pytest.raises(AnswerError, match="no code"):
        child_from_rewrite(PARENT, "I would use a better algorithm here.")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_any_answer_is_a_child_or_a_reason(answer: str) -> None:
    for parse in (child_from_diff, child_from_rewrite):
        with contextlib.suppress(AnswerError):
            child = parse(PARENT, answer)
            assert frozen_violation(PARENT, child) is None  # a child keeps the frozen code
