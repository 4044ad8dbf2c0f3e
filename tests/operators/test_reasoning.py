"""A reasoning model's ``<think>`` section is left out of its answer: its drafts are
never applied, a section the model never closed is no answer, and a tag inside the
answer's own code stays code."""

from __future__ import annotations

import pytest
from operator_cases import PROGRAMS

from evoforge.operators.answers import AnswerRequest, AppliedAnswer, apply_answers
from evoforge.operators.diff import UNPARSEABLE
from evoforge.operators.reasoning import UnfinishedReasoning, after_reasoning, split_reasoning

CODE = PROGRAMS["two_blocks"]


def _edit(new: str) -> str:
    return (
        "<<<<<<< SEARCH\n    delta = rate * (1.0 - value)\n=======\n"
        f"    delta = rate * ({new} - value)\n>>>>>>> REPLACE\n"
    )


@pytest.mark.parametrize("tag", ["think", "thinking", "THINK"])
def test_drafts_in_the_reasoning_are_never_applied(tag: str) -> None:
    answer = (
        f"\n<{tag}>\nFirst idea:\n{_edit('3.0')}\nNo, that overshoots.\n</{tag}>\n\n"
        f"Here is the change:\n{_edit('2.0')}"
    )
    found = apply_answers(AnswerRequest("diff", CODE, (answer,)))
    assert isinstance(found, AppliedAnswer)
    assert found.code == CODE.replace("(1.0 - value)", "(2.0 - value)")


def test_a_closing_tag_alone_ends_the_reasoning_a_template_opened() -> None:
    answer = f"Let me try 3.0:\n{_edit('3.0')}\nBetter 2.0.\n</think>\n{_edit('2.0')}"
    found = apply_answers(AnswerRequest("diff", CODE, (answer,)))
    assert isinstance(found, AppliedAnswer)
    assert "(2.0 - value)" in found.code and "(3.0 - value)" not in found.code


def test_reasoning_never_closed_is_no_answer() -> None:
    answer = f"<think>\nMaybe:\n{_edit('3.0')}\nor perhaps"
    found = apply_answers(AnswerRequest("diff", CODE, (answer,)))
    assert isinstance(found, list) and len(found) == 1
    assert found[0].category == UNPARSEABLE
    assert "never closed" in found[0].message
    with pytest.raises(UnfinishedReasoning):
        after_reasoning("  <thinking> and on and on")


def test_tags_inside_the_answer_stay_as_they_are() -> None:
    code_with_tags = 'TAGS = ("<think>", "</think>")\nprint(TAGS)\n'
    assert after_reasoning(code_with_tags) == code_with_tags
    answer = 'Sure.\n```python\nquote = """<think>\n</think>\n"""\n```\n'
    assert after_reasoning(answer) == answer  # the closing tag follows an opening one
    plain = f"No reasoning here.\n{_edit('2.0')}"
    assert after_reasoning(plain) == plain


@pytest.mark.parametrize(
    "answer",
    [
        f"<think>\nFirst idea:\n{_edit('3.0')}</think>\n\n{_edit('2.0')}",
        f"Let me see.\n</thinking>\n{_edit('2.0')}",
        _edit("2.0"),
    ],
)
def test_split_reasoning_parts_make_the_answer_again(answer: str) -> None:
    reasoning, rest = split_reasoning(answer)
    assert reasoning + rest == answer and rest == after_reasoning(answer)
    assert reasoning.lower().rstrip().endswith(("</think>", "</thinking>")) or not reasoning
