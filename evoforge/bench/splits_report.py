"""The headline of problems with instance splits: the test score, with bootstrap
confidence intervals over seeds.

For a problem with splits (:mod:`evoforge.splits`) a run's best search score says how well
the search fitted the instances it saw; the score that says how well the result
generalises is the final choice's test score. From the run records' ``extra["splits"]``
this module computes, per problem and engine, the mean over seeds of the test score, the
search score of the same programs, Thresholdout's holdout estimate and the gap (search
minus test), each with a 95 % percentile-bootstrap confidence interval of the mean
(:func:`scipy.stats.bootstrap`, seeds resampled; none with fewer than two seeds). scipy
is imported here only (the ``bench`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evoforge.bench.records import STATUS_OK, RunRecord

BOOTSTRAP_RESAMPLES = 9999
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """The mean of a quantity over seeds, with its bootstrap interval (``None`` when
    fewer than two seeds)."""

    mean: float
    low: float | None
    high: float | None

    def shown(self, digits: int = 4) -> str:
        if self.low is None or self.high is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class SplitStats:
    """One engine on one problem with splits, over the seeds whose final choice scored."""

    problem: str
    engine: str
    seeds: int
    test: Interval
    search: Interval
    holdout_estimate: Interval
    gap: Interval
    holdout_spent: int  # runs whose Thresholdout budget ran out


def mean_interval(values: Sequence[float], seed: int = 0) -> Interval:
    """The mean of ``values`` and a 95 % percentile-bootstrap interval of it."""
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if data.size < 2:
        return Interval(mean, None, None)
    if np.all(data == data[0]):
        return Interval(mean, mean, mean)
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Interval(mean, float(interval.low), float(interval.high))


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
            rows.append(
                SplitStats(
                    problem=problem,
                    engine=engine,
                    seeds=len(finals),
                    test=mean_interval([f["test_score"] for f in finals]),
                    search=mean_interval([f["search_score"] for f in finals]),
                    holdout_estimate=mean_interval([f["holdout_estimate"] for f in finals]),
                    gap=mean_interval([f["gap"] for f in finals]),
                    holdout_spent=sum(bool(f.get("holdout_spent")) for f in finals),
                )
            )
    return rows


def splits_table(rows: Sequence[SplitStats]) -> str:
    """The Markdown table of :func:`split_stats` (empty when there is no row)."""
    if not rows:
        return ""
    lines = [
        "| problem | engine | seeds | **test** (headline) | search | holdout (Thresholdout) "
        "| gap search − test |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        spent = f" (budget spent in {row.holdout_spent})" if row.holdout_spent else ""
        lines.append(
            f"| {row.problem} | {row.engine} | {row.seeds} | **{row.test.shown()}** "
            f"| {row.search.shown()} | {row.holdout_estimate.shown()}{spent} "
            f"| {row.gap.shown()} |"
        )
    return "\n".join(lines) + "\n"
