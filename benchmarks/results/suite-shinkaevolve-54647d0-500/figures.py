"""The figures of this directory's NOTES.md, from the committed records.

    .venv/bin/python benchmarks/results/suite-shinkaevolve-54647d0-500/figures.py

For each problem on which ShinkaEvolve has finished all its seeds here (five; cap_set_8,
like every engine in the README's table, fifteen): its median best score (IQR), the
medians of symbolic evoforge, evoforge-oracle and OpenEvolve from the README's table (the
cells `benchmarks/suite_table.py` takes, over the same seeds), two-sided Mann-Whitney
p-values of ShinkaEvolve against each evoforge engine, its share of failed evaluations
and its programs' patch types.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # benchmarks/, for suite_table's sources

import suite_table  # noqa: E402

from evoforge.bench.current import current_rows  # noqa: E402

SHINKA = "shinkaevolve"
RIVALS = ("evoforge", "evoforge-oracle", "openevolve")
SEEDS = 5


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
    return 0


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
