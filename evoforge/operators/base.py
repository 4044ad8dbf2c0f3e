"""The operator contract: propose one child from a parent and its context.

Operators are stateless: everything they need arrives in the :class:`ProposalContext`
(including the random generator, derived by the engine from the run seed and the
iteration, so a run is reproducible and resumable without hidden state).
"""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from evoforge.llm.records import LLMCallRecord
from evoforge.program import Program

if TYPE_CHECKING:
    from evoforge.config import OperatorsConfig
    from evoforge.facts import ChildFacts
    from evoforge.operators.llm import LLMServices
    from evoforge.operators.offload import Offload


@dataclass(frozen=True)
class PromptGuidance:
    """What the run's prompt learning chose for one language-model prompt.

    ``instruction``: the system instruction to send (None: the prompt builder's own),
    ``instruction_id`` its archive name; ``exemplar_policy``: the inspiration policy to
    use (None: ``prompt.inspiration_policy``); ``note``: the latest run note ("" when
    there is none yet), shown fenced as untrusted text.
    """

    instruction: str | None = None
    instruction_id: str = ""
    exemplar_policy: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ProposalContext:
    """What an operator may look at.

    ``inspirations``: other programs chosen by the archive's inspiration policy.
    ``relatives``: evaluated programs that share the parent's literal skeleton (same code
    up to numeric literals): the scored ones best first, then those that failed in
    evaluation (``score`` None), oldest first; ``tune`` uses them to adapt its step.
    ``pool``: the island's best elites, from which prompt policies pick what to show.
    ``recent``: the island's latest children, oldest first (their statuses and reasons
    feed failure feedback). ``stagnation``: children on the island since its best last
    improved. ``call_log``: where a language-model operator appends a record of every
    request it makes; the engine commits them with the step (None: not recorded).
    ``guidance``: the prompt learning's choices for a language-model operator (None:
    the configured prompt as it is).
    ``protected_names``: names the problem's evaluator may reach (the seed's top-level
    names, every name the evaluator mentions); ``simplify`` never removes them.
    ``offload``: where a language-model operator builds its prompt and turns the model's
    answers into a child (:mod:`evoforge.operators.offload`; the engine's proposal
    pool); None: in the operator's own process.
    """

    parent: Program
    rng: np.random.Generator
    inspirations: Sequence[Program] = ()
    relatives: Sequence[Program] = ()
    island: int = 0
    iteration: int = 0
    pool: Sequence[Program] = ()
    recent: Sequence[Program] = ()
    stagnation: int = 0
    call_log: list[LLMCallRecord] | None = None
    guidance: PromptGuidance | None = None
    protected_names: frozenset[str] = frozenset()
    offload: Offload | None = None


@dataclass(frozen=True)
class Proposal:
    """A child's full program text and a short human-readable note on what changed.

    ``rejection``: set by an operator that got an answer it cannot turn into a child (a
    model's edit that does not apply, say); the engine records the step as rejected with
    this reason and ``code`` is then the parent's. ``params``: numbers the operator made
    the child with that it wants to read back from the lineage later (``tune``: its
    relative ``step``); they are stored with the program as ``Program.params``.
    ``answer``: what a language-model operator records about the model's answer (how its
    edits matched, whether a correction prompt was needed); stored with the child as an
    ``llm_answer`` event. Empty for every other operator.
    ``facts``: the child's code-only facts (:mod:`evoforge.facts`), attached by
    :meth:`~evoforge.engine.Engine.propose` where the child was made; None until then.
    ``failed``: set by :func:`run_operator`, never by an operator: the operator raised or
    answered with something that is not a proposal, and ``rejection`` says what (the step
    is recorded as rejected, kind ``operator_error``).
    """

    code: str
    operator: str
    note: str = ""
    extra_parent_ids: tuple[str, ...] = field(default_factory=tuple)
    rejection: str = ""
    answer: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, float] = field(default_factory=dict)
    facts: ChildFacts | None = field(default=None, compare=False, repr=False)
    failed: bool = False


class Operator(ABC):
    """One arm of the operator bandit.

    ``propose`` returns a child whose evolve blocks differ from the parent's and whose
    frozen code is untouched, or ``None`` when it cannot produce one from this parent
    (the engine records that as a rejected proposal). It must never raise for any parent
    that parses; a parent whose blocks do not parse is a ``None``.
    ``uses_relatives``: the engine fills ``ProposalContext.relatives`` only for operators
    that set it (finding relatives costs a parse per program).
    ``keep_only_if_no_worse``: the engine archives the child only if its score is at least
    the parent's (``simplify``).
    ``uses_prompt_material``: the engine fills ``ProposalContext.pool`` and ``recent`` only
    for operators that set it (the language-model ones, which show them in prompts).
    ``depends_on_code_only``: the proposal is a function of the parent's code and
    ``protected_names`` alone (no generator, nothing else of the context), so the proposal
    pool may answer a parent it has seen with the proposal it made then (``simplify``).
    """

    name: ClassVar[str]
    keep_only_if_no_worse: ClassVar[bool] = False
    uses_relatives: ClassVar[bool] = False
    uses_prompt_material: ClassVar[bool] = False
    depends_on_code_only: ClassVar[bool] = False

    @classmethod
    def from_settings(cls, settings: OperatorsConfig, llm: LLMServices | None) -> Operator:
        """The operator as the run's ``operators`` settings configure it (the registered
        builder; operators without settings take none)."""
        return cls()

    @abstractmethod
    async def propose(self, context: ProposalContext) -> Proposal | None:
        """Produce one child or None."""


_TRACEBACK_LINES = 6  # of an operator's exception, kept with its rejection


async def run_operator(operator: Operator, context: ProposalContext) -> Proposal | None:
    """``operator.propose(context)`` held to its contract: None or a :class:`Proposal`
    whose ``code`` is text. An operator that raises, or answers with anything else,
    yields a failed proposal (``failed``, the parent's code) whose ``rejection`` says
    what happened: the exception's last traceback lines ending with its type and
    message, or what it returned. A bug in one operator costs that step, never the run,
    and is recorded rather than mistaken for "no change"."""
    parent_code = context.parent.code
    try:
        answer: object = await operator.propose(context)
    except Exception as exc:
        lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
        message = str(exc).strip().splitlines()
        detail = f": {message[0]}" if message else ""
        summary = f"operator {operator.name!r} raised {type(exc).__name__}{detail}"
        reason = "\n".join([*lines[-_TRACEBACK_LINES:-1], summary])
        return Proposal(code=parent_code, operator=operator.name, rejection=reason, failed=True)
    if answer is None:
        return None
    if not isinstance(answer, Proposal):
        problem = f"{type(answer).__name__} (not a Proposal or None)"
    else:
        problem = _untyped_field(answer)
        if not problem:
            return answer
    reason = f"operator {operator.name!r} returned {problem}"
    return Proposal(code=parent_code, operator=operator.name, rejection=reason, failed=True)


def _untyped_field(proposal: Proposal) -> str:
    """The first text field of ``proposal`` that holds something else, said in words;
    "" when there is none."""
    for name in ("code", "note", "rejection"):
        value = getattr(proposal, name)
        if not isinstance(value, str):
            return f"a Proposal whose {name} is {type(value).__name__} (not text)"
    return ""
