"""Language-model operators: ``llm_diff``, ``llm_rewrite`` and ``llm_crossover``.

Each is one arm of the operator bandit, like the symbolic operators. ``propose`` builds
a prompt (:mod:`evoforge.operators.prompts`), asks the :class:`~evoforge.llm.router.
ModelRouter` for ``completions_per_request`` answers, and turns the first usable answer
into a child (:mod:`evoforge.operators.diff`):

* ``llm_diff``: SEARCH/REPLACE edits applied to the parent's evolve blocks;
* ``llm_rewrite``: whole evolve blocks (or the whole program);
* ``llm_crossover``: the parent and a second parent (an inspiration) in, one child out.

Every request is appended to ``context.call_log`` so that the engine commits it with the
step. An answer that cannot become a child, or a request that failed for good, gives a
:class:`~evoforge.operators.base.Proposal` with ``rejection`` set: the engine records
the step as rejected with that reason, and the island's next prompt shows it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import ClassVar, Literal

from evoforge.llm.client import ChatRequest, LLMCallError
from evoforge.llm.router import ModelRouter
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.operators.diff import AnswerError, child_from_diff, child_from_rewrite
from evoforge.operators.prompts import PromptBuilder
from evoforge.program import Program, normalise_code

__all__ = ["LLMOperator", "LLMServices"]

Kind = Literal["diff", "rewrite", "crossover"]


@dataclass(frozen=True)
class LLMServices:
    """What every LLM operator of a run shares: the model router and the prompt builder."""

    router: ModelRouter
    prompts: PromptBuilder
    completions_per_request: int = 1


class LLMOperator(Operator):
    """One language-model operator; ``kind`` chooses the prompt and the answer form."""

    name: ClassVar[str] = "llm"

    def __init__(self, kind: Kind, services: LLMServices) -> None:
        self.kind: Kind = kind
        self.services = services
        # instances differ only by kind, so the bandit's arm name lives on the instance
        self.name = f"llm_{kind}"  # type: ignore[misc]

    def _second_parent(self, context: ProposalContext) -> Program | None:
        candidates = [
            program
            for program in (*context.inspirations, *context.pool)
            if program.is_scored
            and program.id != context.parent.id
            and program.code_hash != context.parent.code_hash
        ]
        if not candidates:
            return None
        unique = list({program.id: program for program in candidates}.values())
        return unique[int(context.rng.integers(len(unique)))]

    def _reject(self, context: ProposalContext, reason: str, second: Program | None) -> Proposal:
        return Proposal(
            code=context.parent.code,
            operator=self.name,
            rejection=reason,
            extra_parent_ids=() if second is None else (second.id,),
        )

    def _child(self, parent_code: str, answer: str) -> str:
        if self.kind == "diff":
            child = child_from_diff(parent_code, answer)
        else:
            child = child_from_rewrite(parent_code, answer)
        if normalise_code(child) == normalise_code(parent_code):
            raise AnswerError("the answer leaves the program unchanged")
        try:
            ast.parse(child)
        except SyntaxError as exc:
            raise AnswerError(f"syntax error at line {exc.lineno}: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:
            raise AnswerError(f"unparsable code: {exc}") from None
        return child

    async def propose(self, context: ProposalContext) -> Proposal | None:
        second = self._second_parent(context) if self.kind == "crossover" else None
        if self.kind == "crossover" and second is None:
            return None  # nothing to cross with yet
        prompt = self.services.prompts.build(self.kind, context, second)
        request = ChatRequest(
            messages=prompt.messages,
            n=self.services.completions_per_request,
            seed=int(context.rng.integers(2**31 - 1)),
            operator=self.name,
        )
        try:
            response = await self.services.router.complete(request, context.rng)
        except LLMCallError as exc:
            if context.call_log is not None:
                context.call_log.extend(exc.records)
            return self._reject(context, f"language model call failed: {exc}", second)
        if context.call_log is not None:
            context.call_log.extend(response.records)
        reasons: list[str] = []
        for answer in response.texts:
            try:
                child = self._child(context.parent.code, answer)
            except AnswerError as exc:
                reasons.append(str(exc))
                continue
            return Proposal(
                code=child,
                operator=self.name,
                note=f"{self.name} via {response.model}",
                extra_parent_ids=() if second is None else (second.id,),
            )
        reason = reasons[0] if reasons else "the model returned no completion"
        return self._reject(context, f"{self.name}: {reason}", second)
