"""The oracle's answers to requests about the run, and the hints it follows.

So that the prompts that learn can run and be tested offline, the oracle
(:mod:`evoforge.llm.oracle`) answers the two requests of
:mod:`evoforge.operators.meta_prompts` deterministically:

* **a new instruction** (``Answer format: INSTRUCTION``): the best instruction listed
  (the first), without any hint line of its own, plus one of :data:`HINTS`: the first in
  an order drawn from the request's hash that no listed instruction holds yet (any,
  drawn the same way, once all are held);
* **a run note** (``Answer format: RUN NOTE``): built from the digest's per-operator
  lines and its commonest failure: which operator improved the archive most often,
  which failed most, and one line of advice.

And it follows the hints: a system instruction holding one of :data:`HINTS` changes how
it makes children (:func:`hint_in`): more ``tune`` edits, more ``mutate`` edits, or a
crossover with the first inspiration shown in the prompt. The built-in instruction holds
none, so runs that do not evolve their instruction are answered as before.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from evoforge.operators.diff import code_blocks
from evoforge.operators.meta_prompts import (
    ANSWER_INSTRUCTION,
    ANSWER_RUN_NOTE,
    INSTRUCTIONS_HEADING,
)
from evoforge.operators.run_digest import FAILURES_HEADING, OPERATORS_HEADING

__all__ = [
    "HINTS",
    "HINT_BORROW",
    "HINT_STRUCTURE",
    "HINT_TUNE",
    "hint_in",
    "inspiration_code",
    "meta_answer",
]

HINT_TUNE = "Prefer small numeric changes: tune the constants."
HINT_STRUCTURE = "Prefer structural changes: change the structure of the formulas."
HINT_BORROW = "Borrow from the inspirations: combine their best parts with the current program."
HINTS = (HINT_TUNE, HINT_STRUCTURE, HINT_BORROW)
INSPIRATIONS_HEADING = "## Other programs for inspiration"
_OPERATOR_LINE = re.compile(
    r"^- (?P<name>[^:\n]+): (?P<n>\d+) children, (?P<improved>\d+) improved the archive, "
    r"(?P<flat>\d+) scored without gain, (?P<refused>\d+) refused before evaluation, "
    r"(?P<failed>\d+) failed in evaluation$",
    re.M,
)


def hint_in(system: str) -> str | None:
    """The first of :data:`HINTS` the system instruction holds, or None."""
    return next((hint for hint in HINTS if hint in system), None)


def inspiration_code(prompt: str) -> str | None:
    """The first inspiration's code in a prompt built by evoforge, or None."""
    at = prompt.find(INSPIRATIONS_HEADING)
    if at < 0:
        return None
    blocks = [body for _, body in code_blocks(prompt[at:]) if "EVOLVE-BLOCK-START" in body]
    return blocks[0] if blocks else None


def meta_answer(oracle_seed: int, prompt: str) -> str | None:
    """The answer to a request about the run, or None when ``prompt`` is not one."""
    if ANSWER_INSTRUCTION in prompt:
        return f"Here is a new instruction.\n\n```text\n{_instruction(oracle_seed, prompt)}\n```\n"
    if ANSWER_RUN_NOTE in prompt:
        return f"Here is my note.\n\n```text\n{_note(prompt)}\n```\n"
    return None


def _instruction(oracle_seed: int, prompt: str) -> str:
    listed = prompt[prompt.find(INSTRUCTIONS_HEADING) :] if INSTRUCTIONS_HEADING in prompt else ""
    section = listed.split("\n## ", 1)[0] if listed else ""
    texts = [body for _, body in code_blocks(section)]
    best = texts[0] if texts else "Improve the program so that it scores higher."
    base = "\n".join(line for line in best.strip().splitlines() if line.strip() not in HINTS)
    digest = hashlib.sha256(f"{oracle_seed}\n{prompt}".encode()).digest()
    order = np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(len(HINTS))
    fresh = [HINTS[i] for i in order if not any(HINTS[i] in text for text in texts)]
    hint = fresh[0] if fresh else HINTS[int(order[0])]
    return f"{base.rstrip()}\n{hint}"


def _note(prompt: str) -> str:
    stats = []
    if OPERATORS_HEADING in prompt:
        section = prompt[prompt.find(OPERATORS_HEADING) :].split("\n## ", 1)[0]
        stats = [match.groupdict() for match in _OPERATOR_LINE.finditer(section)]
    if not stats:
        return "Nothing to note yet: no children so far."
    helped = max(stats, key=lambda s: (int(s["improved"]) / int(s["n"]), -stats.index(s)))
    failing = max(
        stats,
        key=lambda s: ((int(s["refused"]) + int(s["failed"])) / int(s["n"]), -stats.index(s)),
    )
    lines = [
        f"Helped most: {helped['name']} ({helped['improved']} of {helped['n']} children "
        "improved the archive)."
    ]
    refused, failed = int(failing["refused"]), int(failing["failed"])
    if refused + failed:
        lines.append(
            f"Failed most: {failing['name']} ({refused} refused before evaluation, "
            f"{failed} failed in evaluation)."
        )
    reason = _commonest_failure(prompt)
    if reason:
        lines.append(f"Commonest failure: {reason}")
    lines.append(
        "Next: copy SEARCH text exactly from the current program."
        if refused > failed
        else "Next: keep changes small and build on the best program."
    )
    return "\n".join(lines)


def _commonest_failure(prompt: str) -> str:
    at = prompt.find(FAILURES_HEADING)
    if at < 0:
        return ""
    blocks = code_blocks(prompt[at:])
    if not blocks:
        return ""
    first = next((line for line in blocks[0][1].splitlines() if line.startswith("- ")), "")
    return first[2:].strip()
