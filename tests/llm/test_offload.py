"""A language-model operator's CPU work where the engine sends it (the proposal pool), and
what happens when the worker doing it is lost: the prompt is built on the driver instead,
the answers count as failed with a reason. Against a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import numpy as np

from evoforge.config import LLMConfig, LLMModelConfig, PromptConfig
from evoforge.llm.client import OpenAIChatClient, RetryPolicy
from evoforge.llm.router import ModelRouter
from evoforge.operators.answers import AnswerRequest, AppliedAnswer, FailedAnswer
from evoforge.operators.base import ProposalContext
from evoforge.operators.llm import LLMOperator, LLMServices
from evoforge.operators.offload import HERE
from evoforge.operators.prompts import Prompt, PromptBuilder
from evoforge.program import Program, code_hash

from .conftest import PROBLEMS, ScriptedServer, answer

SEED_CODE = (PROBLEMS / "curve_fit" / "initial_program.py").read_text()
VALID_DIFF = (
    "<<<<<<< SEARCH\n    return a * x + b + c * x * x\n=======\n"
    "    return 1.5 * x * x - 2.0 * x + 0.75\n>>>>>>> REPLACE"
)


class LosesItsWorker:
    """An offload whose worker is always lost (what :class:`ProposalPool` answers then),
    counting the calls it got."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def build_prompt(
        self, builder: PromptBuilder, kind: str, context: ProposalContext, second: Program | None
    ) -> Prompt | None:
        self.calls.append("prompt")
        return None

    async def apply_answers(
        self, request: AnswerRequest
    ) -> AppliedAnswer | list[FailedAnswer] | None:
        self.calls.append("answers")
        return None


def _operator(url: str) -> tuple[LLMOperator, PromptBuilder]:
    config = LLMConfig(models=[LLMModelConfig(model="scripted", base_url=url, timeout_s=1)])
    router = ModelRouter(config, {"scripted": OpenAIChatClient(config.models[0], RetryPolicy())})
    builder = PromptBuilder(PromptConfig(), "Fit a curve.", SEED_CODE)
    return LLMOperator("diff", LLMServices(router=router, prompts=builder)), builder


def _context(offload: object) -> ProposalContext:
    parent = Program(id="p", code=SEED_CODE, code_hash=code_hash(SEED_CODE), score=0.5)
    return ProposalContext(
        parent=parent,
        rng=np.random.default_rng(0),
        call_log=[],
        offload=offload,  # type: ignore[arg-type]
    )


def test_with_its_worker_lost_the_prompt_is_built_here_and_the_answer_fails_with_a_reason(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.extend(answer(VALID_DIFF))
    operator, builder = _operator(scripted_server.url)
    offload = LosesItsWorker()
    proposal = asyncio.run(operator.propose(_context(offload)))
    assert offload.calls == ["prompt", "answers"]
    (request,) = scripted_server.requests
    sent = builder.build("diff", _context(None), None)
    assert request["messages"] == list(sent.messages)  # the prompt was built here instead
    assert proposal is not None and proposal.rejection
    assert "proposal worker was lost" in proposal.rejection
    assert proposal.answer["outcome"] == "not_applied"


def test_done_here_the_same_answer_makes_the_child(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(answer(VALID_DIFF))
    operator, _ = _operator(scripted_server.url)
    proposal = asyncio.run(operator.propose(_context(HERE)))
    assert proposal is not None and not proposal.rejection
    assert "1.5 * x * x - 2.0 * x + 0.75" in proposal.code
