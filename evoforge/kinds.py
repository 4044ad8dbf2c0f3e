"""Typed kinds for what used to travel as free text: why a child was refused before
evaluation, and why a run stopped.

Both are :class:`~enum.StrEnum` so that their values are the words a person reads (and the
words older run databases hold); code compares members, never parses text.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RejectionKind", "StopReason"]


class RejectionKind(StrEnum):
    """Why a child was never evaluated (its status is ``rejected``).

    ``no_change``: the operator produced nothing. ``operator``: the operator refused its own
    answer (a model's edit that does not apply, say). ``operator_error``: the operator
    raised, or answered with something that is not a proposal (a bug in it). ``syntax``:
    the child does not parse.
    ``frozen_code``: it changed code outside the evolve blocks. ``undefined_name``: it uses a
    name it never defines where its parent does not (static check). ``duplicate``: a program
    with the same normalised code was already evaluated or is in flight. ``near_duplicate``:
    its evolve blocks are a near copy of an evaluated program. ``other``: refused by a
    check outside this list (a caller's own).
    """

    NO_CHANGE = "no_change"
    OPERATOR = "operator"
    OPERATOR_ERROR = "operator_error"
    SYNTAX = "syntax"
    FROZEN_CODE = "frozen_code"
    UNDEFINED_NAME = "undefined_name"
    DUPLICATE = "duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    OTHER = "other"


class StopReason(StrEnum):
    """Why a run (or one ``run``/``resume`` invocation) stopped. The value is the phrase
    shown to people; details (how many tokens, which models) travel separately."""

    ITERATIONS = "iterations budget reached"
    EVALUATIONS = "evaluations budget reached"
    WALL_TIME = "wall-time budget reached"
    TARGET = "target score reached"
    INTERRUPTED = "interrupted"
    TOKENS = "token budget reached"
    COST = "cost budget reached"
    NO_MODEL = "no usable language model"

    def describe(self, detail: str = "") -> str:
        """This reason and its details as one line: ``token budget reached (5 of 5 tokens)``,
        ``no usable language model: m1: HTTP 401 ...`` (the words runs have always shown)."""
        if not detail:
            return self.value
        return (
            f"{self.value}: {detail}" if self is StopReason.NO_MODEL else f"{self.value} ({detail})"
        )
