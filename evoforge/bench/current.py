"""The suite's current table, assembled from several measured result directories.

A full suite re-run takes days on a small machine, so the current results of the suite
live in more than one ``evoforge bench`` output: a newer directory re-measures some
problems, or one engine on some problems, an older one still holds the rest.
:func:`current_rows` takes the directories in order of preference and, for each problem
and engine, uses the first one that has that engine finished on *every* seed at the
budget (a partly re-run engine never mixes two measurements in one cell; a row may take
its engines from different directories, and then names each with its engines). A
problem may be measured over more seeds than the rest (``problem_seeds``: where five
seeds only read which seeds were drawn); every engine of its row then needs them all, and
the table says so in the row.
:func:`current_table` renders the rows with each median's 95 % bootstrap interval and
the directories they come from; :func:`standing` counts where symbolic evoforge stands
against the seed-only baselines and OpenEvolve; :func:`changes_since` sets each of its
medians against an earlier row of its own (did it fall by more than that row's IQR?).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evoforge.bench.records import RUNS_FILENAME, STATUS_OK, RunRecord, read_records
from evoforge.bench.report import EngineStats, summarise

SEED_ONLY_BASELINES = ("random-search", "best-of-n")


@dataclass(frozen=True)
class RowSource:
    """A directory one row takes some of its engines from, and their runs' revisions."""

    directory: str
    engines: tuple[str, ...]
    revisions: tuple[str, ...]


@dataclass(frozen=True)
class CurrentProblem:
    """One problem's row: the engines' statistics and the directories they come from, in
    order of preference (``sources`` and ``stats`` are empty when some engine is finished
    on every seed in no directory)."""

    problem: str
    sources: tuple[RowSource, ...]
    stats: tuple[EngineStats, ...]
    seeds: int = 0  # seeds 0..seeds-1 per engine

    @property
    def source(self) -> str | None:
        """The preferred directory the row takes engines from; None for an unmeasured row."""
        return self.sources[0].directory if self.sources else None

    @property
    def revisions(self) -> tuple[str, ...]:
        """Every revision the row's runs were measured at, sorted."""
        return tuple(sorted({rev for source in self.sources for rev in source.revisions}))

    def median(self, engine: str) -> float | None:
        return next((row.median for row in self.stats if row.engine == engine), None)


def _complete(records: Sequence[RunRecord], engine: str, seeds: int) -> bool:
    finished = {r.seed for r in records if r.engine == engine and r.status == STATUS_OK}
    return set(range(seeds)) <= finished


def current_records(
    sources: Sequence[Path],
    problems: Sequence[str],
    engines: Sequence[str],
    *,
    seeds: int,
    budget: int,
    problem_seeds: Mapping[str, int] | None = None,
) -> dict[tuple[str, str], tuple[Path, list[RunRecord]]]:
    """Per (problem, engine), the first of ``sources`` that has that engine finished on
    every seed, with its records of those seeds (the runs a cell of the table is made of).

    Only seeds ``0..seeds-1`` (``0..problem_seeds[problem]-1`` for a problem named there)
    at ``budget`` evaluations count. A source without ``runs.jsonl`` is skipped. A pair
    found in no source is left out.
    """
    loaded = [(source, list(read_records(source / RUNS_FILENAME).values())) for source in sources]
    found: dict[tuple[str, str], tuple[Path, list[RunRecord]]] = {}
    for problem in problems:
        count = (problem_seeds or {}).get(problem, seeds)
        for engine in engines:
            for source, records in loaded:
                mine = [
                    r
                    for r in records
                    if r.problem == problem
                    and r.budget == budget
                    and r.engine == engine
                    and 0 <= r.seed < count
                ]
                if _complete(mine, engine, count):
                    found[(problem, engine)] = (source, mine)
                    break
    return found


def current_rows(
    sources: Sequence[Path],
    problems: Sequence[str],
    engines: Sequence[str],
    *,
    seeds: int,
    budget: int,
    problem_seeds: Mapping[str, int] | None = None,
) -> list[CurrentProblem]:
    """Per problem, each engine's statistics from the first of ``sources`` that has that
    engine finished on every seed (:func:`current_records`). A row is measured only when
    every engine is found (an error is the caller's to raise if no source exists).
    """
    found = current_records(
        sources, problems, engines, seeds=seeds, budget=budget, problem_seeds=problem_seeds
    )
    order = {source: index for index, source in enumerate(sources)}
    rows: list[CurrentProblem] = []
    for problem in problems:
        count = (problem_seeds or {}).get(problem, seeds)
        chosen = {
            engine: found[(problem, engine)] for engine in engines if (problem, engine) in found
        }
        if len(chosen) < len(engines):
            rows.append(CurrentProblem(problem, (), (), count))
            continue
        used: list[RowSource] = []
        for source in sorted({source for source, _ in chosen.values()}, key=order.__getitem__):
            from_here = [engine for engine in engines if chosen[engine][0] == source]
            runs = [r for engine in from_here for r in chosen[engine][1]]
            revisions = tuple(sorted({r.revision[:7] for r in runs if r.status == STATUS_OK}))
            used.append(RowSource(source.name, tuple(from_here), revisions))
        every_run = [r for _, runs in chosen.values() for r in runs]
        stats = summarise(every_run, [problem], engines)[problem]
        rows.append(CurrentProblem(problem, tuple(used), tuple(stats), count))
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


def _where(sources: Sequence[RowSource]) -> str:
    """``dir (revisions)``; with several directories, each followed by its engines."""
    if len(sources) == 1:
        return f"{sources[0].directory} ({', '.join(sources[0].revisions)})"
    return "; ".join(
        f"{source.directory} ({', '.join(source.revisions)}): {', '.join(source.engines)}"
        for source in sources
    )


def current_table(
    rows: Sequence[CurrentProblem], engines: Sequence[str], seeds: int | None = None
) -> str:
    """Markdown: one line per problem, the median (bold: the best) with its 95 % bootstrap
    interval per engine, and the directories the row comes from. A row measured over
    another number of seeds than ``seeds`` (the table's own) says how many after its seed
    program's score."""
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
        notes = [] if initial is None else [f"{initial:.4f}"]
        if seeds is not None and row.seeds != seeds:
            notes.append(f"{row.seeds} seeds")
        label = f"{row.problem} ({'; '.join(notes)})" if notes else row.problem
        cells = [_cell(s, top) for s in row.stats]
        where = _where(row.sources)
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


@dataclass(frozen=True)
class RowChange:
    """One engine's median now against an earlier row of the same engine."""

    problem: str
    earlier_source: str
    earlier_median: float
    earlier_q25: float
    earlier_q75: float
    median: float

    @property
    def iqr(self) -> float:
        return self.earlier_q75 - self.earlier_q25

    @property
    def fell_beyond_iqr(self) -> bool:
        """True when the median is below the earlier one by more than the earlier IQR."""
        return self.earlier_median - self.median > self.iqr + 1e-12


def changes_since(
    rows: Sequence[CurrentProblem], earlier: Sequence[CurrentProblem], engine: str = "evoforge"
) -> list[RowChange]:
    """Per problem measured in both (matched by name), ``engine``'s median in ``rows``
    against its median and interquartile range in ``earlier``."""
    before = {row.problem: row for row in earlier if row.source is not None}
    changes: list[RowChange] = []
    for row in rows:
        then = before.get(row.problem)
        now = row.median(engine)
        if then is None or now is None:
            continue
        stats = next((s for s in then.stats if s.engine == engine), None)
        if stats is None or stats.median is None or stats.q25 is None or stats.q75 is None:
            continue
        source = then.source or ""
        changes.append(RowChange(row.problem, source, stats.median, stats.q25, stats.q75, now))
    return changes
