"""The suite's current table, assembled from several measured result directories.

A full suite re-run takes days on a small machine, so the current results of the suite
live in more than one ``evoforge bench`` output: a newer directory re-measures some
problems, an older one still holds the rest. :func:`current_rows` takes the directories
in order of preference and, for each problem, uses the first one that has *every* engine
finished on *every* seed at the budget (a partly re-run problem never mixes two
measurements in one row). :func:`current_table` renders the rows with each median's 95 %
bootstrap interval and the directory it comes from; :func:`standing` counts where
symbolic evoforge stands against the seed-only baselines and OpenEvolve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evoforge.bench.records import RUNS_FILENAME, STATUS_OK, RunRecord, read_records
from evoforge.bench.report import EngineStats, summarise

SEED_ONLY_BASELINES = ("random-search", "best-of-n")


@dataclass(frozen=True)
class CurrentProblem:
    """One problem's row: the engines' statistics and the directory they come from
    (``source`` is ``None`` and ``stats`` empty when no directory has the problem whole)."""

    problem: str
    source: str | None
    revisions: tuple[str, ...]
    stats: tuple[EngineStats, ...]

    def median(self, engine: str) -> float | None:
        return next((row.median for row in self.stats if row.engine == engine), None)


def _complete(records: Sequence[RunRecord], engines: Sequence[str], seeds: int) -> bool:
    for engine in engines:
        finished = {r.seed for r in records if r.engine == engine and r.status == STATUS_OK}
        if not set(range(seeds)) <= finished:
            return False
    return True


def current_rows(
    sources: Sequence[Path],
    problems: Sequence[str],
    engines: Sequence[str],
    *,
    seeds: int,
    budget: int,
) -> list[CurrentProblem]:
    """Per problem, the statistics from the first of ``sources`` that has it whole.

    Only seeds ``0..seeds-1`` at ``budget`` evaluations count. A source without
    ``runs.jsonl`` is skipped (an error is the caller's to raise if none exists).
    """
    loaded = [(source, list(read_records(source / RUNS_FILENAME).values())) for source in sources]
    rows: list[CurrentProblem] = []
    for problem in problems:
        chosen: CurrentProblem | None = None
        for source, records in loaded:
            mine = [
                r
                for r in records
                if r.problem == problem
                and r.budget == budget
                and r.engine in engines
                and 0 <= r.seed < seeds
            ]
            if not _complete(mine, engines, seeds):
                continue
            stats = summarise(mine, [problem], engines)[problem]
            revisions = tuple(sorted({r.revision[:7] for r in mine if r.status == STATUS_OK}))
            chosen = CurrentProblem(problem, source.name, revisions, tuple(stats))
            break
        rows.append(chosen or CurrentProblem(problem, None, (), ()))
    return rows


def _cell(row: EngineStats, top: float | None) -> str:
    if row.median is None:
        return "–"
    text = f"{row.median:.4f}"
    if top is not None and math.isclose(row.median, top, rel_tol=1e-9):
        text = f"**{text}**"
    ci = row.median_ci
    if ci is not None and ci.low is not None and ci.high is not None:
        text += f" ({ci.low:.4f}–{ci.high:.4f})"
    return text


def current_table(rows: Sequence[CurrentProblem], engines: Sequence[str]) -> str:
    """Markdown: one line per problem, the median (bold: the best) with its 95 % bootstrap
    interval per engine, and the directory the row comes from."""
    lines = [
        "| problem (seed program) | " + " | ".join(engines) + " | measured in |",
        "|---|" + "---:|" * len(engines) + "---|",
    ]
    for row in rows:
        if row.source is None:
            lines.append(f"| {row.problem} | " + " | ".join("–" for _ in engines) + " | none |")
            continue
        medians = [s.median for s in row.stats if s.median is not None]
        top = max(medians) if medians else None
        initial = next((s.initial_score for s in row.stats if s.initial_score is not None), None)
        label = row.problem if initial is None else f"{row.problem} ({initial:.4f})"
        cells = [_cell(s, top) for s in row.stats]
        where = f"{row.source} ({', '.join(row.revisions)})"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {where} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Standing:
    """Where one engine stands, problem by problem, over the rows that were measured."""

    measured: int
    at_least_seed_only: tuple[str, ...]  # median >= the better seed-only baseline's
    below_seed_only: tuple[str, ...]
    ahead_of_rival: tuple[str, ...]  # median > the rival's
    tied_with_rival: tuple[str, ...]
    behind_rival: tuple[str, ...]


def standing(
    rows: Sequence[CurrentProblem],
    engine: str = "evoforge",
    rival: str = "openevolve",
    baselines: Sequence[str] = SEED_ONLY_BASELINES,
) -> Standing:
    """Compare ``engine``'s median with the better of ``baselines`` and with ``rival``
    (equal to 1e-9 relative counts as a tie: the same construction scored twice)."""
    at_least: list[str] = []
    below: list[str] = []
    ahead: list[str] = []
    tied: list[str] = []
    behind: list[str] = []
    measured = 0
    for row in rows:
        mine = row.median(engine)
        if row.source is None or mine is None:
            continue
        measured += 1
        seed_only = [m for b in baselines if (m := row.median(b)) is not None]
        if seed_only:
            best = max(seed_only)
            (at_least if mine >= best or math.isclose(mine, best, rel_tol=1e-9) else below).append(
                row.problem
            )
        other = row.median(rival)
        if other is not None:
            if math.isclose(mine, other, rel_tol=1e-9):
                tied.append(row.problem)
            else:
                (ahead if mine > other else behind).append(row.problem)
    return Standing(
        measured, tuple(at_least), tuple(below), tuple(ahead), tuple(tied), tuple(behind)
    )
