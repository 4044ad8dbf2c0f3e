"""The headline of problems with instance splits: the test score, with bootstrap
confidence intervals over seeds.

For a problem with splits (:mod:`evoforge.splits`) a run's best search score says how well
the search fitted the instances it saw; the score that says how well the result
generalises is the final choice's test score. From the run records' ``extra["splits"]``
this module computes, per problem and engine, the mean over seeds of the test score, the
search score of the same programs, Thresholdout's holdout estimate (evoforge's engines
only: the others have no holdout) and the gap (search minus test), each with a 95 %
percentile-bootstrap confidence interval of the mean (:mod:`evoforge.bench.intervals`,
seeds resampled; none with fewer than two seeds), and the rule that chose the programs
(:mod:`evoforge.bench.held_out`: the holdout for evoforge's engines, the best search
score for the others).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evoforge.bench.held_out import choice_of
from evoforge.bench.intervals import Interval, mean_interval
from evoforge.bench.records import STATUS_OK, RunRecord


@dataclass(frozen=True)
class SplitStats:
    """One engine on one problem with splits, over the seeds whose final choice scored."""

    problem: str
    engine: str
    seeds: int
    test: Interval
    search: Interval
    holdout_estimate: Interval | None  # None where no run has one (no holdout)
    gap: Interval
    holdout_spent: int  # runs whose Thresholdout budget ran out
    choice: str = ""  # the rule that chose the scored programs (held_out.CHOICE_*)


def split_stats(
    records: Sequence[RunRecord], problems: Sequence[str], engines: Sequence[str]
) -> list[SplitStats]:
    """Per problem and engine with at least one finished run with splits: the statistics."""
    rows: list[SplitStats] = []
    for problem in problems:
        for engine in engines:
            finals = [
                r.extra["splits"]
                for r in records
                if r.problem == problem
                and r.engine == engine
                and r.status == STATUS_OK
                and isinstance(r.extra, dict)
                and isinstance(r.extra.get("splits"), dict)
                and r.extra["splits"].get("test_score") is not None
            ]
            if not finals:
                continue
            estimates = [
                f["holdout_estimate"] for f in finals if f.get("holdout_estimate") is not None
            ]
            rows.append(
                SplitStats(
                    problem=problem,
                    engine=engine,
                    seeds=len(finals),
                    test=mean_interval([f["test_score"] for f in finals]),
                    search=mean_interval([f["search_score"] for f in finals]),
                    holdout_estimate=mean_interval(estimates) if estimates else None,
                    gap=mean_interval([f["gap"] for f in finals]),
                    holdout_spent=sum(bool(f.get("holdout_spent")) for f in finals),
                    choice=" / ".join(sorted({choice_of(f) for f in finals})),
                )
            )
    return rows


def splits_table(rows: Sequence[SplitStats]) -> str:
    """The Markdown table of :func:`split_stats` (empty when there is no row)."""
    if not rows:
        return ""
    lines = [
        "| problem | engine | program scored | seeds | **test** (headline) | search "
        "| holdout (Thresholdout) | gap search − test |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        spent = f" (budget spent in {row.holdout_spent})" if row.holdout_spent else ""
        holdout = "–" if row.holdout_estimate is None else row.holdout_estimate.shown()
        lines.append(
            f"| {row.problem} | {row.engine} | {row.choice} | {row.seeds} "
            f"| **{row.test.shown()}** | {row.search.shown()} | {holdout}{spent} "
            f"| {row.gap.shown()} |"
        )
    return "\n".join(lines) + "\n"
