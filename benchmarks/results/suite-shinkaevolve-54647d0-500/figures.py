"""The figures of this directory's NOTES.md, from the committed records.

    .venv/bin/python benchmarks/results/suite-shinkaevolve-54647d0-500/figures.py

For each problem on which ShinkaEvolve has finished all its seeds here (five; cap_set_8,
like every engine in the README's table, fifteen): its median best score (IQR), the
medians of symbolic evoforge, evoforge-oracle and OpenEvolve from the README's table (the
cells `benchmarks/suite_table.py` takes, over the same seeds), two-sided Mann-Whitney
p-values of ShinkaEvolve against each evoforge engine, its share of failed evaluations
and its programs' patch types. Below it, the pace of the three searches from the runs'
trajectories (the best score after every evaluation): the median number of evaluations
that raised a run's best, and the median best after 250 of the 500 evaluations.
"""

from __future__ import annotations

import json
import statistics
import sys
from itertools import pairwise
from pathlib import Path

from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # benchmarks/, for suite_table's sources

import suite_table  # noqa: E402

from evoforge.bench.current import current_rows  # noqa: E402

SHINKA = "shinkaevolve"
RIVALS = ("evoforge", "evoforge-oracle", "openevolve")
SEEDS = 5
PACE_AT = 250  # evaluations: the pace table's halfway mark


def _seeds(problem: str) -> int:
    """How many seeds (0 to N-1) the README's table measures ``problem`` over."""
    return suite_table.PROBLEM_SEEDS.get(problem, SEEDS)


def _shinka_runs() -> dict[str, list[dict]]:
    """problem -> ShinkaEvolve's finished 500-evaluation runs here over the problem's
    seeds, for the problems that have every one of them."""
    found: dict[str, list[dict]] = {}
    for line in (HERE / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        wanted = row["status"] == "ok" and row["budget"] == 500
        if wanted and 0 <= row["seed"] < _seeds(row["problem"]):
            found.setdefault(row["problem"], []).append(row)
    return {problem: rows for problem, rows in found.items() if len(rows) == _seeds(problem)}


def _scores(rows: list[dict]) -> list[float]:
    return [_tie(row["best_score"]) for row in rows]


def _tie(score: float) -> float:
    """A score rounded to 9 decimals: the same construction scored by different runs
    can differ in the last bits, which a rank test would read as an order."""
    return round(float(score), 9)


def main() -> int:
    finished = _shinka_runs()
    problems = [problem for problem in suite_table.SUITE if problem in finished]
    sources = [s for s in suite_table.DEFAULT_SOURCES if (s / "runs.jsonl").is_file()]
    rows = {
        row.problem: row
        for row in current_rows(
            sources,
            problems,
            list(RIVALS),
            seeds=SEEDS,
            budget=500,
            problem_seeds=suite_table.PROBLEM_SEEDS,
        )
    }
    print(
        "| problem | ShinkaEvolve (IQR) | evoforge | evoforge-oracle | OpenEvolve "
        "| p against evoforge | p against evoforge-oracle | failed | patches diff / full / cross |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for problem in problems:
        runs = finished[problem]
        mine = _scores(runs)
        q25, _, q75 = statistics.quantiles(mine, n=4, method="inclusive")
        row = rows[problem]
        cells = []
        p_values = []
        for rival in RIVALS:
            median = row.median(rival)
            cells.append("–" if median is None else f"{median:.4f}")
        for rival in RIVALS[:2]:
            theirs = [
                _tie(r.best_score)
                for r in _rival_runs(sources, problem, rival)
                if r.best_score is not None
            ]
            same = sorted(theirs) == sorted(mine)
            p_values.append("–" if not theirs else f"{1.0 if same else _p(mine, theirs):.2f}")
        failed = sum(r["failed_evaluations"] for r in runs) / sum(r["evaluations"] for r in runs)
        kinds = {"diff": 0, "full": 0, "cross": 0}
        for run in runs:
            for kind, count in run.get("extra", {}).get("patch_types", {}).items():
                if kind in kinds:
                    kinds[kind] += count
        total = sum(kinds.values()) or 1
        patches = " / ".join(f"{100 * kinds[k] / total:.0f} %" for k in ("diff", "full", "cross"))
        print(
            f"| {problem} | {statistics.median(mine):.4f} ({q25:.4f}-{q75:.4f}) | "
            + " | ".join(cells)
            + f" | {' | '.join(p_values)} | {100 * failed:.0f} % | {patches} |"
        )
    print()
    _print_pace(problems, finished, sources)
    return 0


def _print_pace(problems: list[str], finished: dict[str, list[dict]], sources: list[Path]) -> None:
    """The pace table: per problem, ShinkaEvolve's and each evoforge engine's median count
    of improving evaluations and median best after PACE_AT evaluations."""
    engines = (SHINKA, *RIVALS[:2])
    print(
        f"| problem | improvements: {' / '.join(engines)} "
        f"| best after {PACE_AT} evaluations: {' / '.join(engines)} |"
    )
    print("|---|---|---|")
    for problem in problems:
        trajectories = {
            SHINKA: [row["trajectory"] for row in finished[problem]],
            **{
                rival: [r.trajectory for r in _rival_runs(sources, problem, rival)]
                for rival in RIVALS[:2]
            },
        }
        counts, halfway = [], []
        for engine in engines:
            runs = trajectories[engine]
            counts.append(f"{statistics.median(_improvements(t) for t in runs):g}" if runs else "–")
            at = [t[PACE_AT - 1] for t in runs if len(t) >= PACE_AT and t[PACE_AT - 1] is not None]
            halfway.append(f"{statistics.median(at):.4f}" if at else "–")
        print(f"| {problem} | {' / '.join(counts)} | {' / '.join(halfway)} |")


def _improvements(trajectory: list[float | None]) -> int:
    """How many evaluations after the first raised the run's best (ties at 9 decimals
    are not a rise)."""
    known = [_tie(score) for score in trajectory if score is not None]
    return sum(1 for before, after in pairwise(known) if after > before)


def _p(a: list[float], b: list[float]) -> float:
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _rival_runs(sources: list[Path], problem: str, engine: str) -> list:
    """The runs of ``engine`` on ``problem`` behind its cell (the first source with all
    the problem's seeds), as current_rows chooses them."""
    from evoforge.bench.records import RUNS_FILENAME, STATUS_OK, read_records

    for source in sources:
        runs = [
            r
            for r in read_records(source / RUNS_FILENAME).values()
            if r.problem == problem
            and r.engine == engine
            and r.budget == 500
            and 0 <= r.seed < _seeds(problem)
        ]
        if len(runs) == _seeds(problem) and all(r.status == STATUS_OK for r in runs):
            return runs
    return []


if __name__ == "__main__":
    raise SystemExit(main())
