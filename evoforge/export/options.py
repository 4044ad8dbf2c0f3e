"""What an export writes and how it selects: the options, their defaults and meaning.

Every option is one command-line flag of ``evoforge export`` and one line of the dataset
card, so a dataset always says how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["DIFFICULTY_MODES", "FORMATS", "REASONING_MODES", "ExportError", "ExportOptions"]

Format = Literal["sft", "preference", "traces"]
Difficulty = Literal["proportional", "uniform", "off"]
Reasoning = Literal["drop", "keep"]
FORMATS: tuple[Format, ...] = ("sft", "preference", "traces")
DIFFICULTY_MODES: tuple[Difficulty, ...] = ("proportional", "uniform", "off")
REASONING_MODES: tuple[Reasoning, ...] = ("drop", "keep")


class ExportError(ValueError):
    """The export cannot be made (no run, bad option, nothing selected); one line."""


@dataclass(frozen=True)
class ExportOptions:
    """How examples are selected and split.

    ``difficulty`` (difficulty-aware sampling, after DART-Math): a parent's difficulty is
    the smoothed share of its evaluated children that did *not* improve it,
    ``1 - (improved + 1) / (evaluated + 2)``. ``proportional`` keeps up to
    ``ceil(per_parent * difficulty)`` (at least one) improving children of each parent,
    so parents whose improvement was rare keep most of theirs and easy parents are
    thinned; ``uniform`` keeps up to ``per_parent`` of every parent; ``off`` keeps all.
    The largest improvements are kept first.

    ``failure_examples`` (failure-targeted examples, after LLM2LLM): per parent, up to
    this many failed children (failed, timeout, invalid) become a user turn that shows
    the failed edit and its error, answered by the parent's best improving child. 0
    turns them off. sft only.

    ``per_lineage``: at most this many examples per lineage (the descendants of one child
    of the seed, per run), keeping the hardest parents and largest improvements first,
    so that one long lineage does not dominate. 0: no cap.

    ``margin`` (preference): ``chosen`` must beat ``rejected`` by more than
    ``margin * |parent score|`` (and by more than zero); a failed child loses to any
    scored one. Each chosen child is paired with up to ``rejected_per_chosen`` siblings,
    failed ones and the best-scoring losers first.

    ``validation``: the share of examples aimed at for the validation split. Whole
    lineages (per problem) go to one side; examples whose programs would straddle the
    split are dropped, so no parent, child or failed program appears in both (the
    inspirations a prompt shows are not counted); a run too small to split trains whole.
    ``seed`` fixes which lineages are held out.

    ``reasoning``: what becomes of the ``<think>`` section a reasoning model opens its
    answer with (the run never applies it). ``drop``: a model's answer is written
    without it (sft's assistant turn, traces' ``model_answer``); ``keep``: it stays in
    front of the answer, as the model wrote it, scrubbed like all free text.
    """

    format: Format
    difficulty: Difficulty = "proportional"
    per_parent: int = 4
    failure_examples: int = 2
    per_lineage: int = 64
    margin: float = 0.001
    rejected_per_chosen: int = 2
    validation: float = 0.1
    seed: int = 0
    reasoning: Reasoning = "drop"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"unknown format {self.format!r} (choose {', '.join(FORMATS)})")
        if self.difficulty not in DIFFICULTY_MODES:
            raise ExportError(
                f"unknown difficulty mode {self.difficulty!r} "
                f"(choose {', '.join(DIFFICULTY_MODES)})"
            )
        if self.reasoning not in REASONING_MODES:
            raise ExportError(
                f"unknown reasoning mode {self.reasoning!r} (choose {', '.join(REASONING_MODES)})"
            )
        if self.per_parent < 1:
            raise ExportError("--per-parent must be at least 1")
        if self.failure_examples < 0 or self.per_lineage < 0:
            raise ExportError("--failure-examples and --per-lineage must not be negative")
        if not 0.0 <= self.margin < 1e6:
            raise ExportError(f"--margin must be a non-negative number, got {self.margin}")
        if self.rejected_per_chosen < 1:
            raise ExportError("--rejected-per-chosen must be at least 1")
        if not 0.0 <= self.validation <= 0.5:
            raise ExportError(f"--validation must be between 0 and 0.5, got {self.validation}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
