"""The turns of an example: evoforge's own prompts and answers that parse back exactly.

User turns are built by the run's :class:`~evoforge.operators.prompts.PromptBuilder`
(the prompt ``llm_diff`` would have sent for that parent, with the inspirations the child
was shown), or are the very prompt a model child was made from. Assistant turns are
SEARCH/REPLACE edits in the form the model operators parse, or a model's recorded answer.
Every answer is checked with evoforge's own parser (:mod:`evoforge.operators.diff`), with
exact matching of its SEARCH texts: it is used only when it turns the parent into the
child byte for byte that way (a model's answer that needed lenient matching gives way to
an exact edit written from the code). A reasoning model's leading ``<think>`` section is
read as the run read it: left out before parsing (:mod:`evoforge.operators.reasoning`),
and kept apart in :attr:`Turns.reasoning`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from evoforge.blocks import BlockError, split_blocks
from evoforge.export.source import RunView
from evoforge.llm.oracle import diff_answer
from evoforge.operators.base import ProposalContext
from evoforge.operators.diff import AnswerError, child_from_diff_matched, child_from_rewrite
from evoforge.operators.matching import MatchKind
from evoforge.operators.prompts import ANSWER_FULL, ANSWER_SEARCH_REPLACE
from evoforge.operators.reasoning import UnfinishedReasoning, split_reasoning
from evoforge.program import Program

__all__ = [
    "Turns",
    "answer_format",
    "apply_answer",
    "edit_answer",
    "failure_turns",
    "improvement_turns",
    "model_turns",
    "rebuilt_prompt",
    "search_replace",
    "without_reasoning",
]

SEARCH_REPLACE = "search_replace"
FULL_PROGRAM = "full_program"
_ANSWER_HEADING = "## Your answer"
_SENTENCES = {
    "tune": "I adjust numeric constants of the evolve block to raise the score.",
    "mutate": "I change an expression and the statements around it to raise the score.",
    "crossover": "I bring in a part of another good program to raise the score.",
    "simplify": "I simplify the code without lowering the score.",
}
_DEFAULT_SENTENCE = "I change the evolve block to raise the score."


@dataclass(frozen=True)
class Turns:
    """A system and a user turn, the assistant's answer and how the answer is read.
    ``assistant`` holds no reasoning section; ``reasoning`` is the one the model's
    answer opened with, tags included ("" for none, and for every rebuilt answer)."""

    system: str
    user: str
    assistant: str
    answer_format: str
    source: str  # "model": a recorded model exchange; "rebuilt": built from the code
    reasoning: str = ""


def without_reasoning(answer: str) -> tuple[str, str] | None:
    """``(reasoning, rest)`` with ``reasoning + rest == answer``: a model's answer split
    as the run split it, the white space after the reasoning section going with it (""
    when there is no section); None when the answer is all reasoning."""
    try:
        reasoning, rest = split_reasoning(answer)
    except UnfinishedReasoning:
        return None
    if not reasoning:
        return "", answer
    stripped = rest.lstrip()
    return reasoning + rest[: len(rest) - len(stripped)], stripped


def answer_format(user: str) -> str:
    """How the prompt asks to be answered (evoforge's answer-format line decides)."""
    if ANSWER_SEARCH_REPLACE in user and ANSWER_FULL not in user:
        return SEARCH_REPLACE
    return FULL_PROGRAM


def apply_answer(parent_code: str, answer: str, form: str) -> str | None:
    """The child that evoforge's parser makes of ``answer``, or None if it cannot. Every
    SEARCH text must occur in the parent exactly: an answer the parser accepts only by
    its lenient matching (a typo, stray whitespace) is no example to learn from. A
    leading reasoning section is left out first, as the run's operators leave it out."""
    split = without_reasoning(answer)
    if split is None:
        return None
    answer = split[1]
    try:
        if form == SEARCH_REPLACE:
            return child_from_diff_matched(parent_code, answer, leniency=MatchKind.EXACT).code
        return child_from_rewrite(parent_code, answer)
    except (AnswerError, BlockError):
        return None


def search_replace(parent_code: str, child_code: str) -> str | None:
    """SEARCH/REPLACE edits that turn the parent into exactly the child, or None.

    Minimal edits first (the oracle's renderer), whole evolve blocks when those do not
    reproduce the child; None when neither does (the blocks' count differs, say).
    """
    try:
        blocks_before = split_blocks(parent_code).blocks
        blocks_after = split_blocks(child_code).blocks
    except BlockError:
        return None
    if len(blocks_before) != len(blocks_after) or blocks_before == blocks_after:
        return None
    candidates = []
    with contextlib.suppress(ValueError, IndexError):
        candidates.append(diff_answer(parent_code, child_code))
    changed = [
        (old, new) for old, new in zip(blocks_before, blocks_after, strict=True) if old != new
    ]
    candidates.append(
        "\n\n".join(
            f"<<<<<<< SEARCH\n{old.rstrip(chr(10))}\n=======\n{new.rstrip(chr(10))}\n"
            ">>>>>>> REPLACE"
            for old, new in changed
        )
    )
    if all(old.endswith("\n") and (not new or new.endswith("\n")) for old, new in changed):
        # whole blocks with their trailing blank lines, byte for byte
        candidates.append(
            "\n\n".join(
                f"<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE" for old, new in changed
            )
        )
    for edits in candidates:
        if apply_answer(parent_code, edits, SEARCH_REPLACE) == child_code:
            return edits
    return None


def edit_answer(operator: str, parent_code: str, child_code: str) -> str | None:
    """An answer in the form the diff prompt asks for: one sentence, then the edits."""
    edits = search_replace(parent_code, child_code)
    if edits is None:
        return None
    return f"{_SENTENCES.get(operator, _DEFAULT_SENTENCE)}\n\n{edits}\n"


def rebuilt_prompt(
    source: RunView,
    parent: Program,
    shown: Program,
    recent: tuple[Program, ...] = (),
) -> tuple[str, str]:
    """(system, user) of the ``llm_diff`` prompt for ``parent``, with the inspirations
    that ``shown`` (a child of it) was proposed with; ``recent``: failed siblings for
    the prompt's failure section."""
    inspirations = tuple(
        source.programs[program_id]
        for program_id in shown.inspiration_ids
        if program_id in source.programs
    )
    context = ProposalContext(
        parent=parent,
        rng=np.random.default_rng(0),
        inspirations=inspirations,
        recent=recent,
    )
    prompt = source.prompts.build("diff", context)
    return prompt.system, prompt.user


def model_turns(source: RunView, parent: Program, child: Program) -> Turns | None:
    """The recorded prompt and the model's answer that made ``child``, when one of the
    recorded answers reproduces it exactly (after its reasoning section, which the
    turns keep apart); None otherwise."""
    form = SEARCH_REPLACE if child.operator == "llm_diff" else FULL_PROGRAM
    for exchange in source.exchanges.get(child.seq, ()):
        for recorded in exchange.answers:
            split = without_reasoning(recorded)
            if split is None:
                continue
            reasoning, answer = split
            if apply_answer(parent.code, answer, form) == child.code:
                return Turns(exchange.system, exchange.user, answer, form, "model", reasoning)
    return None


def improvement_turns(source: RunView, parent: Program, child: Program) -> Turns | None:
    """The turns of an improving child: its model exchange, else evoforge's diff prompt
    and the edit written as SEARCH/REPLACE."""
    recorded = model_turns(source, parent, child)
    if recorded is not None:
        return recorded
    answer = edit_answer(child.operator, parent.code, child.code)
    if answer is None:
        return None
    system, user = rebuilt_prompt(source, parent, child)
    return Turns(system, user, answer, SEARCH_REPLACE, "rebuilt")


def failure_turns(
    source: RunView, parent: Program, failed: Program, fixed: Program
) -> Turns | None:
    """A failure-targeted example: the diff prompt for ``parent`` that also shows the
    failed child's edit and its (scrubbed) error, answered by the ``fixed`` sibling."""
    answer = edit_answer(fixed.operator, parent.code, fixed.code)
    if answer is None:
        return None
    system, user = rebuilt_prompt(source, parent, fixed, recent=(failed,))
    failed_edits = search_replace(parent.code, failed.code)
    error = failed.artifacts.get("traceback") or failed.reason
    error = source.scrubber.scrub(str(error)).strip()
    limit = max(source.artifact_chars, 200)
    if len(error) > limit:
        error = "[...]" + error[-limit:]
    lines = [f"## The last attempt on this program ({failed.status.value})"]
    if failed_edits is not None:
        lines += ["It made these edits:", "", failed_edits, ""]
    fence = "```"
    while fence in error:
        fence += "`"
    lines += ["The evaluator reported:", f"{fence}text", error or "(no message)", fence]
    section = "\n".join(lines) + "\n\n"
    at = user.find(_ANSWER_HEADING)
    user = user + "\n" + section if at < 0 else user[:at] + section + user[at:]
    return Turns(system, user, answer, SEARCH_REPLACE, "rebuilt")
