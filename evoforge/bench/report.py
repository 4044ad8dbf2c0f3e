"""The benchmark report: per-problem tables, plots and ``README.md``, from run records.

Statistics are computed as plain data first (:func:`summarise`) and rendered second
(:func:`markdown_tables`, :func:`write_report`). The score is the best normalised score a
run reached (the problem's ``combined_score``); the table gives, per problem and engine,
its median over seeds with a 95 % bootstrap confidence interval of the median
(:mod:`evoforge.bench.intervals`) and the interquartile range.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.atomic_files import write_text_atomically
from evoforge.bench.engines import STOP_WALL_TIME
from evoforge.bench.intervals import Interval, median_interval
from evoforge.bench.records import STATUS_OK, RunRecord
from evoforge.bench.splits_report import split_stats, splits_table
from evoforge.source_tree import install_command
from evoforge.wording import quantity

README_FILENAME = "README.md"
TABLE_FILENAME = "table.md"

ENGINE_NOTES = {
    "evoforge": "evoforge with its symbolic operators (tune, mutate, crossover, simplify)",
    "evoforge-oracle": "evoforge with only its language-model operators, against the oracle",
    "openevolve": "OpenEvolve 0.4.0 (its own virtual environment) against the same oracle",
    "shinkaevolve": "ShinkaEvolve 0.0.7 (its own virtual environment) against the same oracle",
    "random-search": "children of the seed from the oracle, one at a time; the best is kept",
    "best-of-n": "all children of the seed from the oracle at once; the best is kept",
}


@dataclass(frozen=True)
class EngineStats:
    """One engine on one problem, over the seeds that finished."""

    engine: str
    runs: int
    median: float | None
    q25: float | None
    q75: float | None
    mean_evaluations: float | None
    mean_wall_time_s: float | None
    initial_score: float | None
    not_finished: tuple[str, ...] = ()
    failed_share: float | None = None  # failed / evaluations over runs that counted them
    failed_runs: int = 0  # how many runs the failed share rests on
    operators: tuple[tuple[str, int, int, int], ...] = ()  # (name, evaluated, failed, improved)
    parents: tuple[int, int, int] | None = None  # OpenEvolve: (iterations, failed, seed)
    patch_types: tuple[tuple[str, int], ...] = ()  # ShinkaEvolve: (kind, programs), most first
    median_ci: Interval | None = None  # the median with its 95 % bootstrap interval


def summarise(
    records: Sequence[RunRecord], problems: Sequence[str], engines: Sequence[str]
) -> dict[str, list[EngineStats]]:
    """Per problem, per engine: median and quartiles of the best score over seeds."""
    table: dict[str, list[EngineStats]] = {}
    for problem in problems:
        rows = []
        for engine in engines:
            mine = [r for r in records if r.problem == problem and r.engine == engine]
            done = [r for r in mine if r.status == STATUS_OK]
            scores = np.array([r.best_score for r in done if r.best_score is not None], float)
            initial = [r.initial_score for r in done if r.initial_score is not None]
            notes = tuple(
                sorted({f"{r.status}: {r.reason}" for r in mine if r.status != STATUS_OK})
            )
            counted = [r for r in done if r.failed_evaluations is not None and r.evaluations]
            failed = sum(r.failed_evaluations or 0 for r in counted)
            evaluated = sum(r.evaluations for r in counted)
            rows.append(
                EngineStats(
                    engine=engine,
                    runs=len(scores),
                    median=float(np.median(scores)) if scores.size else None,
                    q25=float(np.percentile(scores, 25)) if scores.size else None,
                    q75=float(np.percentile(scores, 75)) if scores.size else None,
                    mean_evaluations=(
                        float(np.mean([r.evaluations for r in done])) if done else None
                    ),
                    mean_wall_time_s=(
                        float(np.mean([r.wall_time_s for r in done])) if done else None
                    ),
                    initial_score=initial[0] if initial else None,
                    not_finished=notes,
                    failed_share=failed / evaluated if evaluated else None,
                    failed_runs=len(counted),
                    operators=_operator_totals(done),
                    parents=_parent_totals(done),
                    patch_types=_patch_type_totals(done),
                    median_ci=median_interval(scores.tolist()) if scores.size else None,
                )
            )
        table[problem] = rows
    return table


def _extra(record: RunRecord, key: str) -> dict[str, Any] | None:
    value = record.extra.get(key) if isinstance(record.extra, dict) else None
    return value if isinstance(value, dict) else None


def _add_counts(total: list[int], counts: object, fields: tuple[str, ...]) -> None:
    """Add ``counts[field]`` for each of ``fields`` to ``total`` (same order)."""
    if isinstance(counts, dict):
        for index, field_name in enumerate(fields):
            total[index] += int(counts.get(field_name, 0))


def _operator_totals(records: Sequence[RunRecord]) -> tuple[tuple[str, int, int, int], ...]:
    """Per-operator (evaluated, failed, improved) over the runs that recorded them, the
    operator with the most evaluations first."""
    totals: dict[str, list[int]] = {}
    for record in records:
        for name, counts in (_extra(record, "operators") or {}).items():
            fields = ("evaluated", "failed", "improved")
            _add_counts(totals.setdefault(str(name), [0, 0, 0]), counts, fields)
    ordered = sorted(totals.items(), key=lambda item: -item[1][0])
    return tuple((name, counts[0], counts[1], counts[2]) for name, counts in ordered)


def _parent_totals(records: Sequence[RunRecord]) -> tuple[int, int, int] | None:
    """OpenEvolve's parent choices (iterations, failed parent, seed parent) over runs."""
    found = [parents for record in records if (parents := _extra(record, "parents"))]
    if not found:
        return None
    total = [0, 0, 0]
    for parents in found:
        _add_counts(total, parents, ("iterations", "failed", "seed"))
    return (total[0], total[1], total[2])


def _patch_type_totals(records: Sequence[RunRecord]) -> tuple[tuple[str, int], ...]:
    """ShinkaEvolve's stored programs per kind of patch (``diff``, ``full``, ``cross``)
    over runs, the seed's copies (``init``) left out, the most common first."""
    totals: dict[str, int] = {}
    for record in records:
        for kind, count in (_extra(record, "patch_types") or {}).items():
            if kind != "init" and isinstance(count, int):
                totals[str(kind)] = totals.get(str(kind), 0) + count
    return tuple(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def _is_top(value: float | None, top: float | None) -> bool:
    """Whether ``value`` ties the best (to 1e-9 relative: the same construction scored by
    another engine's path may differ in the last bits)."""
    return value is not None and top is not None and math.isclose(value, top, rel_tol=1e-9)


def _number(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ci_cell(interval: Interval | None) -> str:
    if interval is None or interval.low is None or interval.high is None:
        return "–"
    return f"{_number(interval.low)}–{_number(interval.high)}"


def markdown_tables(summary: dict[str, list[EngineStats]], budget: int) -> str:
    """One Markdown table per problem; the best median is in bold."""
    parts: list[str] = []
    for problem, rows in summary.items():
        medians = [row.median for row in rows if row.median is not None]
        top = max(medians) if medians else None
        seed_scores = [row.initial_score for row in rows if row.initial_score is not None]
        parts.append(f"### {problem}\n")
        if seed_scores:
            parts.append(
                f"Seed program: {_number(seed_scores[0])}. Budget: {budget} evaluations.\n"
            )
        parts.append(
            "| engine | median best score | 95 % CI of the median | IQR (q25–q75) | seeds "
            "| mean evaluations | failed evaluations | mean wall time (s) |"
        )
        parts.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            median = _number(row.median)
            if _is_top(row.median, top):
                median = f"**{median}**"
            iqr = "–" if row.q25 is None else f"{_number(row.q25)}–{_number(row.q75)}"
            ci = _ci_cell(row.median_ci)
            evaluations = "–" if row.mean_evaluations is None else f"{row.mean_evaluations:.1f}"
            wall = "–" if row.mean_wall_time_s is None else f"{row.mean_wall_time_s:.1f}"
            failed = "–" if row.failed_share is None else f"{100 * row.failed_share:.0f} %"
            if row.failed_share is not None and row.failed_runs < row.runs:
                failed += f" ({quantity(row.failed_runs, 'run')})"
            parts.append(
                f"| {row.engine} | {median} | {ci} | {iqr} | {row.runs} | {evaluations} | {failed} "
                f"| {wall} |"
            )
        for row in rows:
            if row.operators:
                described = ", ".join(
                    f"{name} {evaluated} ({_percent(failed, evaluated)} failed, "
                    f"{_percent(improved, evaluated)} better than the parent)"
                    for name, evaluated, failed, improved in row.operators
                )
                parts.append(f"\n{row.engine} operators, evaluations over all seeds: {described}.")
            if row.parents is not None and row.parents[0]:
                iterations, failed_parents, seed = row.parents
                parts.append(
                    f"\n{row.engine} parents over {iterations} iterations: a program that had "
                    f"failed its evaluation {_percent(failed_parents, iterations)}, the seed "
                    f"program {_percent(seed, iterations)}."
                )
            if row.patch_types:
                programs = sum(count for _, count in row.patch_types)
                described = ", ".join(
                    f"{kind} {_percent(count, programs)}" for kind, count in row.patch_types
                )
                parts.append(
                    f"\n{row.engine} programs by patch type over all seeds ({programs}, the "
                    f"seed's left out): {described}."
                )
        notes = [f"{row.engine}: {note}" for row in rows for note in row.not_finished]
        if notes:
            parts.append("")
            parts.extend(f"- not finished: {note}" for note in notes)
        parts.append("")
    return "\n".join(parts)


def summary_matrix(summary: dict[str, list[EngineStats]], seeds: int) -> str:
    """One Markdown table for all problems: the median best score per engine (bold: the
    best on that problem), with ``(k/seeds)`` where fewer than all seeds have finished."""
    engines = [row.engine for row in next(iter(summary.values()), [])]
    lines = [
        "| problem (seed program) | " + " | ".join(engines) + " |",
        "|---|" + "---:|" * len(engines),
    ]
    for problem, rows in summary.items():
        medians = [row.median for row in rows if row.median is not None]
        top = max(medians) if medians else None
        initial = next((row.initial_score for row in rows if row.initial_score is not None), None)
        cells = []
        for row in rows:
            cell = _number(row.median)
            if _is_top(row.median, top):
                cell = f"**{cell}**"
            if row.runs < seeds:
                cell += f" ({row.runs}/{seeds})"
            cells.append(cell)
        label = problem if initial is None else f"{problem} ({_number(initial)})"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def busy_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals, in the intervals' unit.

    Overlapping runs count once; gaps (a bench stopped and resumed days later) count not
    at all. Intervals with ``end < start`` are ignored.
    """
    total = 0.0
    current_start: float | None = None
    current_end = 0.0
    for start, end in sorted(i for i in intervals if i[1] >= i[0]):
        if current_start is None or start > current_end:
            if current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None:
        total += current_end - current_start
    return total


def machine_description(jobs: int) -> str:
    cpu = platform.processor()
    arch = platform.machine() if cpu in ("", platform.machine()) else f"{platform.machine()}, {cpu}"
    return (
        f"{platform.system()} {platform.release()} ({arch}), "
        f"{os.cpu_count()} cores, {quantity(jobs, 'job')} at once; Python {sys.version.split()[0]}"
    )


def write_report(
    out: Path,
    records: Sequence[RunRecord],
    *,
    problems: Sequence[str],
    engines: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    command: str,
    jobs: int,
    log: Callable[[str], None] = print,
) -> Path:
    """Write ``table.md``, ``plots/*.png`` and ``README.md`` under ``out``; return the README."""
    summary = summarise(records, problems, engines)
    held_out = splits_table(split_stats(records, problems, engines))
    matrix = summary_matrix(summary, len(seeds))
    tables = markdown_tables(summary, budget)
    splits_section = (
        f"""## Test scores (problems with instance splits)

For these problems the headline is the test score: each run's program scored once on
test instances the search never saw. evoforge's engines score the program they chose on
their holdout through Thresholdout; the other engines have no holdout and score the
program they report, their best on the search instances. Mean over seeds, with a 95 %
bootstrap confidence interval of the mean (seeds resampled; none with one seed). Search
is the same program's search score, holdout Thresholdout's answer for it, and the gap
search − test says how much the search score overstates the result.

{held_out}
"""
        if held_out
        else ""
    )
    write_text_atomically(
        out / TABLE_FILENAME, f"{splits_section}## Summary\n\n{matrix}\n## Per problem\n\n{tables}"
    )
    plot_lines: list[str] = []
    try:
        from evoforge.bench.plots import plot_problem
    except ImportError:
        log(f"plots skipped: matplotlib is not installed ({install_command('bench')})")
        plot_lines.append("Plots were not made: matplotlib is not installed.")
    else:
        for problem in problems:
            path = plot_problem(
                out / "plots",
                problem,
                [r for r in records if r.problem == problem],
                engines,
                budget,
            )
            if path is not None:
                # quoted: a problem directory's name may hold spaces or brackets
                plot_lines.append(f"![{problem}](plots/{urllib.parse.quote(path.name)})\n")
    finished = [r for r in records if r.status == STATUS_OK]
    total_wall = sum(r.wall_time_s for r in finished)
    busy = busy_seconds([(r.finished_at - r.wall_time_s, r.finished_at) for r in finished])
    revisions: dict[str, int] = {}
    for record in finished:
        revisions[record.revision or "unknown"] = revisions.get(record.revision or "unknown", 0) + 1
    revision_line = ", ".join(
        f"`{name}` ({quantity(count, 'run')})" for name, count in revisions.items()
    )
    cut_short = [
        r
        for r in finished
        if (r.stop_reason or "").startswith(STOP_WALL_TIME) and r.evaluations < budget
    ]
    cut_line = ""
    if cut_short:
        shown = ", ".join(
            f"{r.problem} / {r.engine} / seed {r.seed} ({r.evaluations})" for r in cut_short[:5]
        )
        more = f" and {len(cut_short) - 5} more" if len(cut_short) > 5 else ""
        cut_line = (
            f"\n- Cut short by the wall-time cap (`--max-run-seconds`): {len(cut_short)} of the"
            f" finished runs, with fewer evaluations than the budget: {shown}{more}"
        )
    engine_lines = "\n".join(f"  - `{name}`: {ENGINE_NOTES.get(name, '')}" for name in engines)
    today = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    readme = f"""# Benchmark results

Produced by `evoforge bench` on {today}.

```sh
{command or "evoforge bench"}
```

- Problems: {", ".join(f"`{p}`" for p in problems)}
- Engines:
{engine_lines}
- Seeds: {", ".join(str(s) for s in seeds)} ({len(seeds)} per problem and engine)
- Runs finished: {len(finished)} of {len(problems) * len(engines) * len(seeds)}{
        ""
        if len(finished) >= len(problems) * len(engines) * len(seeds)
        else " (the table's `seeds` column says how many each figure rests on)"
    }{cut_line}
- Budget: {budget} evaluations per run (the seed program's evaluation counts as one)
- Machine: {machine_description(jobs)}
- evoforge source: {revision_line or "–"}
- Wall time: {busy / 60:.1f} min with at least one run in progress (a bench stopped and
  resumed later does not count the pause); the runs' own wall times sum to
  {total_wall / 60:.1f} min

The score is the best normalised score (`combined_score`) a run reached within its
budget: the median over seeds, and the interquartile range. Every engine's programs are
scored by evoforge's sandboxed evaluator with the problem's own settings; the oracle
(`evoforge oracle`, one process for the whole bench) is the only "language model", so the
engines differ only in how they search. Per-run records (with the best-so-far trajectory
after every evaluation) are in [`runs.jsonl`](runs.jsonl); each run's files under `runs/`.

{splits_section}## Summary

Median best score over seeds; bold: the best engine on that problem; `(k/n)`: only k of
the n seeds have finished.

{matrix}
## Results per problem

{tables}
## Best score against evaluations

Median over seeds of the best score so far, with a 95 % bootstrap confidence band
(resampling seeds).

{chr(10).join(plot_lines)}
"""
    path = out / README_FILENAME
    write_text_atomically(path, readme)  # whole, or the old report kept
    log(f"report: {path}")
    return path
