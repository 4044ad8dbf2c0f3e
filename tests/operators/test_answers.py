"""A model's answers become a child by a pure function of plain values: the first answer
that applies wins, every failure is reported in order with its category."""

from __future__ import annotations

import asyncio
import pickle

from operator_cases import PROGRAMS

from evoforge.operators.answers import (
    AnswerRequest,
    AppliedAnswer,
    FailedAnswer,
    apply_answers,
)
from evoforge.operators.diff import NOT_APPLIED, UNPARSEABLE
from evoforge.operators.offload import HERE

CODE = PROGRAMS["two_blocks"]
EDIT = (
    "<<<<<<< SEARCH\n    delta = rate * (1.0 - value)\n=======\n"
    "    delta = rate * (2.0 - value)\n>>>>>>> REPLACE\n"
)


def test_the_first_answer_that_applies_makes_the_child() -> None:
    request = AnswerRequest("diff", CODE, ("no edit here", EDIT))
    found = apply_answers(request)
    assert isinstance(found, AppliedAnswer)
    assert found.code == CODE.replace("(1.0 - value)", "(2.0 - value)")
    assert found.record == {"match": "exact", "edits": ["exact"]}
    assert asyncio.run(HERE.apply_answers(request)) == found


def test_every_failure_is_reported_in_order_with_its_category() -> None:
    unchanged = EDIT.replace("(2.0 - value)", "(1.0 - value)")
    missing = EDIT.replace("delta = rate * (1.0", "delta = speed * (1.0")
    found = apply_answers(AnswerRequest("diff", CODE, ("prose only", unchanged, missing)))
    assert isinstance(found, list) and len(found) == 3
    assert found[0].category == UNPARSEABLE
    assert "unchanged" in found[1].message
    assert found[2].category == NOT_APPLIED
    assert apply_answers(AnswerRequest("diff", CODE, ())) == []


def test_a_rewrite_that_does_not_parse_is_a_failure_not_a_child() -> None:
    broken = "```python\n" + CODE.replace("def ", "def (", 1) + "\n```"
    found = apply_answers(AnswerRequest("rewrite", CODE, (broken,)))
    assert isinstance(found, list)
    assert found == [FailedAnswer("syntax error at line 6: invalid syntax", NOT_APPLIED)]


def test_requests_and_results_travel_by_pickle_unchanged() -> None:
    request = AnswerRequest("diff", CODE, (EDIT,))
    assert pickle.loads(pickle.dumps(request)) == request
    found = apply_answers(request)
    assert pickle.loads(pickle.dumps(found)) == found
    failure = FailedAnswer("why", UNPARSEABLE)
    assert pickle.loads(pickle.dumps(failure)) == failure and str(failure) == "why"
