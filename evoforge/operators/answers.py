"""Turning a language model's answers into a child: pure, so it can run off the driver.

Applying an answer is CPU work on text: SEARCH/REPLACE matching (up to fuzzy matching,
:mod:`evoforge.operators.matching`), or extracting a rewritten program, then parsing the
child and comparing its normal form with the parent's (tens of milliseconds on a
program of a few hundred lines). :func:`apply_answers` does it from plain values and
returns plain values, so the engine can run it in its proposal pool
(:class:`~evoforge.operators.pool.ProposalPool`, see :mod:`evoforge.operators.offload`)
while the driver's event loop stays free for ask, check and tell.

A reasoning model's leading ``<think>`` section is left out before anything is read
(:mod:`evoforge.operators.reasoning`). Contract: the answers are tried in order; the
first that makes a child gives an :class:`AppliedAnswer` (the child's code and what to
record about the match); if none does, every answer's :class:`FailedAnswer`, in order
(empty when there was no answer). The result depends on the request alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Literal

from evoforge.operators.diff import (
    NOT_APPLIED,
    UNPARSEABLE,
    AnswerError,
    child_from_diff_matched,
    child_from_rewrite,
)
from evoforge.operators.matching import DEFAULT_FUZZY_THRESHOLD, MatchKind
from evoforge.operators.reasoning import UnfinishedReasoning, after_reasoning
from evoforge.program import normalise_code

__all__ = [
    "AnswerRequest",
    "AppliedAnswer",
    "FailedAnswer",
    "apply_answers",
    "lost",
]

Kind = Literal["diff", "rewrite", "crossover"]


@dataclass(frozen=True)
class AnswerRequest:
    """The answers of one request and what they apply to: ``kind`` ``diff`` applies
    SEARCH/REPLACE edits to ``parent_code``; ``rewrite`` and ``crossover`` take the
    program from the answer."""

    kind: Kind
    parent_code: str
    texts: tuple[str, ...]
    leniency: MatchKind = MatchKind.FUZZY
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD


@dataclass(frozen=True)
class AppliedAnswer:
    """The child an answer made; ``record`` says how a diff's edits matched (empty for a
    rewrite)."""

    code: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FailedAnswer:
    """Why an answer made no child (one line) and the failure's category
    (:mod:`evoforge.operators.diff`)."""

    message: str
    category: str

    def __str__(self) -> str:
        return self.message


def _child(request: AnswerRequest, answer: str) -> AppliedAnswer:
    try:  # a reasoning model's drafts are no part of its answer
        answer = after_reasoning(answer)
    except UnfinishedReasoning as exc:
        raise AnswerError(str(exc), UNPARSEABLE) from None
    record: dict[str, Any] = {}
    if request.kind == "diff":
        applied = child_from_diff_matched(
            request.parent_code,
            answer,
            leniency=request.leniency,
            fuzzy_threshold=request.fuzzy_threshold,
        )
        child = applied.code
        record = {"match": applied.match.value, "edits": [k.value for k in applied.kinds]}
    else:
        child = child_from_rewrite(request.parent_code, answer)
    if child == request.parent_code or normalise_code(child) == normalise_code(request.parent_code):
        raise AnswerError("the answer leaves the program unchanged")
    try:
        ast.parse(child)
    except SyntaxError as exc:
        raise AnswerError(f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise AnswerError(f"unparsable code: {exc}") from None
    return AppliedAnswer(child, record)


def apply_answers(request: AnswerRequest) -> AppliedAnswer | list[FailedAnswer]:
    """The first answer that makes a child, or every answer's failure, in order."""
    failures: list[FailedAnswer] = []
    for text in request.texts:
        try:
            return _child(request, text)
        except AnswerError as exc:
            failures.append(FailedAnswer(str(exc), exc.category))
    return failures


def lost(reason: str) -> list[FailedAnswer]:
    """The failure to report when the answers could not be applied at all (the process
    applying them was lost)."""
    return [FailedAnswer(reason, NOT_APPLIED)]
