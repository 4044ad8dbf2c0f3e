"""Requests about the run itself: propose a new system instruction, write a run note.

Both show the model the task and a digest of the run's recent children
(:mod:`.run_digest`); the instruction request also lists the instructions tried so far
with how they paid, best first. Each asks for one ``text`` fenced block under a fixed
``Answer format:`` line (:data:`ANSWER_INSTRUCTION`, :data:`ANSWER_RUN_NOTE`), which is
how the oracle tells these requests apart from requests for code.

:func:`ask_model` sends one such request through the run's model router and returns the
answer's text (or None when the call failed or the answer was empty); every attempt is
appended to the call log, so the step that carried the request stores it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evoforge.llm.client import ChatRequest, LLMCallError
from evoforge.llm.records import LLMCallRecord
from evoforge.llm.router import ModelRouter
from evoforge.operators.untrusted import fence_untrusted

__all__ = [
    "ANSWER_INSTRUCTION",
    "ANSWER_RUN_NOTE",
    "INSTRUCTIONS_HEADING",
    "META_OPERATORS",
    "PREVIOUS_NOTE_HEADING",
    "InstructionRecord",
    "ask_model",
    "instruction_request",
    "note_request",
    "parse_text_answer",
]

ANSWER_INSTRUCTION = "Answer format: INSTRUCTION"
ANSWER_RUN_NOTE = "Answer format: RUN NOTE"
INSTRUCTIONS_HEADING = "## Instructions tried so far (best first)"
PREVIOUS_NOTE_HEADING = "## Your previous note"
OPERATOR_INSTRUCTION = "prompt_instruction"
OPERATOR_RUN_NOTE = "run_note"
#: The ``operator`` labels of requests about the run (in ``llm_calls``): no child comes
#: from their answers.
META_OPERATORS = (OPERATOR_INSTRUCTION, OPERATOR_RUN_NOTE)

_INSTRUCTION_SYSTEM = (
    "You improve the system instruction given to a language model that edits programs in "
    "an evolutionary search. An automatic evaluator scores every program; a higher score "
    "is better."
)
_NOTE_SYSTEM = (
    "You keep short working notes for an evolutionary search over programs, so that the "
    "next edits repeat what helped and avoid what failed."
)
_FENCE_RE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class InstructionRecord:
    """An instruction of the archive as the request shows it."""

    instruction_id: str
    text: str
    uses: int
    mean_reward: float


def instruction_request(
    task: str, instructions: Sequence[InstructionRecord], digest: str, max_chars: int
) -> tuple[dict[str, str], ...]:
    """Messages asking for one new system instruction (``instructions`` best first)."""
    shown = [
        f"### {record.instruction_id} (used {record.uses} times, mean reward "
        f"{record.mean_reward:.3f})\n{fence_untrusted(record.text)}"
        for record in instructions
    ]
    user = (
        f"{task}\n\n{INSTRUCTIONS_HEADING}\n"
        "Each was the system instruction of some of the model's requests; the reward "
        "(0 to 1) says how much its children improved the archive.\n\n"
        + "\n\n".join(shown)
        + f"\n\n## What the run did lately\n{digest}\n\n## Your answer\n{ANSWER_INSTRUCTION}\n"
        "Write one new system instruction that should make the model's edits score better "
        "than those above: keep what the best one says that helped, and address what "
        f"failed. At most {max_chars} characters. Answer with the instruction alone, in "
        "one ```text fenced block.\n"
    )
    return ({"role": "system", "content": _INSTRUCTION_SYSTEM}, {"role": "user", "content": user})


def note_request(
    task: str, previous: str, digest: str, max_chars: int
) -> tuple[dict[str, str], ...]:
    """Messages asking for a run note: what helped, what failed, what to try next."""
    before = f"{PREVIOUS_NOTE_HEADING}\n{fence_untrusted(previous)}\n\n" if previous else ""
    user = (
        f"{task}\n\n{before}## What the run did lately\n{digest}\n\n## Your answer\n"
        f"{ANSWER_RUN_NOTE}\nIn at most {max_chars} characters, note what helped and what "
        "failed so far in this run and what to try next; the note goes into the prompts "
        "of the next edits. Answer with the note alone, in one ```text fenced block.\n"
    )
    return ({"role": "system", "content": _NOTE_SYSTEM}, {"role": "user", "content": user})


def parse_text_answer(answer: str, max_chars: int) -> str | None:
    """The text of the answer's first fenced block (the whole answer when it has none),
    stripped and cut to ``max_chars``; None when nothing is left."""
    match = _FENCE_RE.search(answer)
    text = (match.group(2) if match else answer).strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip()
    return text or None


async def ask_model(
    router: ModelRouter,
    messages: tuple[dict[str, str], ...],
    *,
    operator: str,
    rng: np.random.Generator,
    call_log: list[LLMCallRecord] | None,
) -> str | None:
    """One request through ``router``; the first completion's text, or None when the
    call failed for good. Records go to ``call_log``."""
    request = ChatRequest(
        messages=messages, n=1, seed=int(rng.integers(2**31 - 1)), operator=operator
    )
    try:
        response = await router.complete(request, rng)
    except LLMCallError as exc:
        if call_log is not None:
            call_log.extend(exc.records)
        return None
    if call_log is not None:
        call_log.extend(response.records)
    return response.texts[0] if response.texts else None
