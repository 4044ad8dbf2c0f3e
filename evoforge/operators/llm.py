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

Weak models: SEARCH texts are matched leniently up to ``LLMServices.leniency`` (see
:mod:`evoforge.operators.matching`). When no answer can be parsed at all (no SEARCH/
REPLACE block, no code), the model is answered once, in the same conversation, with a
short correction prompt (``LLMServices.correction``), and only then does the answer
count as a failure. ``Proposal.answer`` says what happened to the answer (see
:func:`LLMOperator.propose`); the engine stores it with the child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evoforge.config import OperatorsConfig
from evoforge.llm.client import ChatRequest, ChatResponse, LLMCallError
from evoforge.llm.router import ModelRouter
from evoforge.operators.answers import (
    AnswerRequest,
    AppliedAnswer,
    FailedAnswer,
    Kind,
    lost,
)
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.operators.diff import UNPARSEABLE
from evoforge.operators.matching import DEFAULT_FUZZY_THRESHOLD, MatchKind
from evoforge.operators.offload import HERE
from evoforge.operators.prompts import PromptBuilder
from evoforge.program import Program

__all__ = ["CORRECTION_PROMPTS", "LLMOperator", "LLMServices"]

#: What the model is told, per answer form, when its answer could not be parsed at all.
CORRECTION_PROMPTS: dict[str, str] = {
    "diff": (
        "Your answer had no SEARCH/REPLACE block, so nothing could be applied. Answer "
        "again with one or more edits in exactly this form, the SEARCH lines copied from "
        "the current program:\n\n<<<<<<< SEARCH\n(lines to find)\n=======\n"
        "(lines to put instead)\n>>>>>>> REPLACE"
    ),
    "rewrite": (
        "Your answer had no code, so nothing could be used. Answer again with the whole "
        "program in one fenced python block (```python ... ```), keeping the "
        "EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers."
    ),
}


@dataclass(frozen=True)
class LLMServices:
    """What every LLM operator of a run shares: the model router and the prompt builder."""

    router: ModelRouter
    prompts: PromptBuilder
    completions_per_request: int = 1
    leniency: MatchKind = MatchKind.FUZZY
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD
    correction: bool = True


class LLMOperator(Operator):
    """One language-model operator; ``kind`` chooses the prompt and the answer form."""

    name: ClassVar[str] = "llm"
    uses_prompt_material: ClassVar[bool] = True

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

    def _reject(
        self,
        context: ProposalContext,
        reason: str,
        second: Program | None,
        answer: dict[str, Any] | None = None,
    ) -> Proposal:
        return Proposal(
            code=context.parent.code,
            operator=self.name,
            rejection=reason,
            extra_parent_ids=() if second is None else (second.id,),
            answer=answer or {},
        )

    async def _apply(
        self, context: ProposalContext, texts: tuple[str, ...]
    ) -> AppliedAnswer | list[FailedAnswer]:
        """The first of ``texts`` that makes a child, or every answer's failure: applied
        where the context says (the engine's proposal pool), else in this process."""
        if not texts:
            return []
        request = AnswerRequest(
            kind=self.kind,
            parent_code=context.parent.code,
            texts=texts,
            leniency=self.services.leniency,
            fuzzy_threshold=self.services.fuzzy_threshold,
        )
        found = await (context.offload or HERE).apply_answers(request)
        if found is None:
            return lost("the answer could not be applied: its proposal worker was lost")
        return found

    async def propose(self, context: ProposalContext) -> Proposal | None:
        """One child from the model's answer, or a rejection with the reason.

        ``Proposal.answer`` records, for every answer the model gave: ``form`` (diff,
        rewrite, crossover), ``outcome`` (``applied``, or the failure's category:
        ``unparseable``, ``ambiguous``, ``not_applied``), for an applied diff ``match``
        (the most lenient match kind among its edits) and ``edits`` (each edit's), and
        ``correction`` (``succeeded`` or ``failed``) when a correction prompt was sent.
        """
        second = self._second_parent(context) if self.kind == "crossover" else None
        if self.kind == "crossover" and second is None:
            return None  # nothing to cross with yet
        offload = context.offload or HERE
        prompt = await offload.build_prompt(self.services.prompts, self.kind, context, second)
        if prompt is None:  # the worker building it was lost: build it here
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
        record: dict[str, Any] = {"form": self.kind}
        found = await self._apply(context, response.texts)
        if (
            self.services.correction
            and isinstance(found, list)
            and found
            and all(failure.category == UNPARSEABLE for failure in found)
        ):
            corrected = await self._correct(context, request, response.texts[0])
            if corrected is not None:
                response, found = corrected
            record["correction"] = "succeeded" if isinstance(found, AppliedAnswer) else "failed"
        if isinstance(found, AppliedAnswer):
            return Proposal(
                code=found.code,
                operator=self.name,
                note=f"{self.name} via {response.model}",
                extra_parent_ids=() if second is None else (second.id,),
                answer={**record, "outcome": "applied", **found.record},
            )
        if not found:
            reason = f"{self.name}: the model returned no completion"
            if "correction" not in record:
                return self._reject(context, reason, second)
            return self._reject(context, reason, second, {**record, "outcome": UNPARSEABLE})
        record["outcome"] = found[0].category
        after = " (also after a correction prompt)" if "correction" in record else ""
        if any(response.cut_off):
            after += "; the answer was cut off at its max_tokens (llm.models' max_tokens)"
        return self._reject(context, f"{self.name}: {found[0]}{after}", second, record)

    async def _correct(
        self, context: ProposalContext, request: ChatRequest, answer: str
    ) -> tuple[ChatResponse, AppliedAnswer | list[FailedAnswer]] | None:
        """Ask once more, in the same conversation, after an unparseable answer: the new
        response and what became of it, or None when the request itself failed."""
        correction = CORRECTION_PROMPTS["diff" if self.kind == "diff" else "rewrite"]
        follow_up = ChatRequest(
            messages=(
                *request.messages,
                {"role": "assistant", "content": answer},
                {"role": "user", "content": correction},
            ),
            n=1,
            seed=int(context.rng.integers(2**31 - 1)),
            operator=self.name,
        )
        try:
            response = await self.services.router.complete(follow_up, context.rng)
        except LLMCallError as exc:
            if context.call_log is not None:
                context.call_log.extend(exc.records)
            return None
        if context.call_log is not None:
            context.call_log.extend(response.records)
        return response, await self._apply(context, response.texts)


def llm_diff(settings: OperatorsConfig, llm: LLMServices | None) -> LLMOperator:
    """The registered ``llm_diff`` operator: a model's SEARCH/REPLACE edit of the parent."""
    return LLMOperator("diff", _services(llm))


def llm_rewrite(settings: OperatorsConfig, llm: LLMServices | None) -> LLMOperator:
    """The registered ``llm_rewrite`` operator: a model's rewrite of the evolve blocks."""
    return LLMOperator("rewrite", _services(llm))


def llm_crossover(settings: OperatorsConfig, llm: LLMServices | None) -> LLMOperator:
    """The registered ``llm_crossover`` operator: a model's combination of two parents."""
    return LLMOperator("crossover", _services(llm))


def _services(llm: LLMServices | None) -> LLMServices:
    if llm is None:
        raise ValueError("language-model operators need language models (llm.models)")
    return llm
