"""Where a language-model operator does its CPU work: the driver or the proposal pool.

A language-model operator does three things per child: build the prompt
(:class:`~evoforge.operators.prompts.PromptBuilder`: choosing and formatting the
inspirations, feedback and failures, within the token budget), ask the model (network
I/O, on the driver), and apply the answers to the parent
(:mod:`evoforge.operators.answers`). The first and the last are CPU work on text, and
both are pure functions of plain values, so the engine has them done in its proposal pool
(:class:`~evoforge.operators.pool.ProposalPool`) while the driver's event loop stays free
for ask, check and tell.

:class:`Offload` is what the operator calls; :data:`HERE` does the work in the caller's
process (the default, and the fallback when no pool exists). A pool that loses the worker
doing it answers None: the operator then builds the prompt itself (nothing is lost) or
counts the answers as failed (with a reason).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from evoforge.operators.answers import AnswerRequest, AppliedAnswer, FailedAnswer, apply_answers

if TYPE_CHECKING:
    from evoforge.operators.base import ProposalContext
    from evoforge.operators.prompts import Prompt, PromptBuilder
    from evoforge.program import Program

__all__ = ["HERE", "InProcess", "Offload"]


class Offload(Protocol):
    """Does a language-model operator's CPU work; None when the worker doing it was lost."""

    async def build_prompt(
        self,
        builder: PromptBuilder,
        kind: str,
        context: ProposalContext,
        second: Program | None,
    ) -> Prompt | None: ...

    async def apply_answers(
        self, request: AnswerRequest
    ) -> AppliedAnswer | list[FailedAnswer] | None: ...


class InProcess:
    """The work done in the caller's process, on its thread."""

    async def build_prompt(
        self,
        builder: PromptBuilder,
        kind: str,
        context: ProposalContext,
        second: Program | None,
    ) -> Prompt | None:
        return builder.build(kind, context, second)

    async def apply_answers(
        self, request: AnswerRequest
    ) -> AppliedAnswer | list[FailedAnswer] | None:
        return apply_answers(request)


HERE = InProcess()
