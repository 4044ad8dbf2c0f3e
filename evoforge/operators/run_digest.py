"""A short written account of a run's recent children, for the prompts that learn.

Instruction proposals and run notes ask the model to reflect on what the run did. What
it is shown is this digest: per operator, how many of the recent children improved the
archive, scored without gain, were refused before evaluation (an answer that did not
parse or apply, a duplicate) or failed in evaluation; the changes that helped most, as
short diffs; and the commonest failure reasons. Reasons and diffs are text a candidate
or a model produced, so they are capped and fenced as untrusted data
(:mod:`.untrusted`). The digest is a pure function of the entries, so a resumed run
builds the very same text.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from evoforge.blocks import BlockError, split_blocks
from evoforge.operators.untrusted import UNTRUSTED_NOTE, cap_text, fence_untrusted, inline_label
from evoforge.program import EvalStatus, Program

__all__ = ["FAILURES_HEADING", "OPERATORS_HEADING", "ResultEntry", "describe_results"]

OPERATORS_HEADING = "## Results by operator"
HELPED_HEADING = "## Changes that helped"
FAILURES_HEADING = "## Commonest failures"
_SHOWN_CHANGES = 3
_DIFF_CHARS = 700
_REASON_CHARS = 160
_SHOWN_REASONS = 6


@dataclass(frozen=True)
class ResultEntry:
    """One committed child as the digest sees it. ``gain``: its score minus its parent's
    (None when either did not score); ``change``: a unified diff of its evolve blocks
    against its parent's, kept only for children that earned a reward."""

    iteration: int
    operator: str
    status: str
    reason: str
    gain: float | None
    reward: float
    change: str = ""

    @classmethod
    def from_program(
        cls, program: Program, parent: Program | None, reward: float | None
    ) -> ResultEntry:
        gain = None
        if program.score is not None and parent is not None and parent.score is not None:
            gain = float(program.score) - float(parent.score)
        paid = float(reward or 0.0)
        change = _block_diff(parent.code, program.code) if parent is not None and paid > 0 else ""
        lines = program.reason.strip().splitlines()
        return cls(
            iteration=program.iteration,
            operator=program.operator,
            status=program.status.value,
            reason=lines[-1] if lines and program.status is not EvalStatus.OK else "",
            gain=gain,
            reward=paid,
            change=change,
        )


def _block_diff(before: str, after: str) -> str:
    """The evolve blocks' unified diff (the whole programs' when blocks do not split)."""
    try:
        old = "".join(split_blocks(before).blocks)
        new = "".join(split_blocks(after).blocks)
    except BlockError:
        old, new = before, after
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), n=1, lineterm="\n"
    )
    return cap_text("".join(list(lines)[2:]), _DIFF_CHARS)


def _operator_lines(entries: Sequence[ResultEntry]) -> list[str]:
    lines = []
    for operator in sorted({entry.operator for entry in entries}):
        mine = [entry for entry in entries if entry.operator == operator]
        improved = sum(1 for entry in mine if entry.reward > 0)
        flat = sum(1 for entry in mine if entry.status == "ok" and entry.reward <= 0)
        refused = sum(1 for entry in mine if entry.status == EvalStatus.REJECTED.value)
        failed = len(mine) - improved - flat - refused
        lines.append(
            f"- {operator}: {len(mine)} children, {improved} improved the archive, "
            f"{flat} scored without gain, {refused} refused before evaluation, "
            f"{failed} failed in evaluation"
        )
    return lines


def describe_results(entries: Sequence[ResultEntry], best: float | None, seed: float | None) -> str:
    """The digest of ``entries`` (oldest first) with the run's best and seed scores."""
    if not entries:
        return f"{OPERATORS_HEADING}\n(no children yet)"
    first, last = entries[0].iteration, entries[-1].iteration
    scores = ""
    if best is not None and seed is not None:
        scores = f" Best score so far {best:.6g} (the seed program scored {seed:.6g})."
    parts = [
        f"The last {len(entries)} children (iterations {first} to {last}).{scores}",
        OPERATORS_HEADING + "\n" + "\n".join(_operator_lines(entries)),
    ]
    helped = sorted(
        (entry for entry in entries if entry.reward > 0 and entry.change),
        key=lambda entry: (-entry.reward, entry.iteration),
    )[:_SHOWN_CHANGES]
    if helped:
        shown = [
            f"### iteration {entry.iteration}, {inline_label(entry.operator)}, reward "
            f"{entry.reward:.3f}"
            + ("" if entry.gain is None else f", score change {entry.gain:+.4g}")
            + f"\n{fence_untrusted(entry.change, 'diff')}"
            for entry in helped
        ]
        parts.append(HELPED_HEADING + "\n" + UNTRUSTED_NOTE + "\n\n" + "\n\n".join(shown))
    reasons = Counter(
        f"{entry.status}: {cap_text(entry.reason, _REASON_CHARS)}"
        for entry in entries
        if entry.status != "ok" and entry.reason
    )
    if reasons:
        listing = "\n".join(
            f"- {reason} ({count}x)" for reason, count in reasons.most_common(_SHOWN_REASONS)
        )
        parts.append(f"{FAILURES_HEADING}\n{UNTRUSTED_NOTE}\n{fence_untrusted(listing)}")
    return "\n\n".join(parts)
