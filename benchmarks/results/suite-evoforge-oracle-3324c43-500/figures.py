"""The figures of this directory's NOTES.md, from the committed records.

    .venv/bin/python benchmarks/results/suite-evoforge-oracle-3324c43-500/figures.py

Per problem: evoforge-oracle's median in the row it replaces (suite-main-500; cap_set_8
over 15 seeds: suite-cap-set-8-15-seeds), its median here (cap_set_8:
suite-evoforge-oracle-3324c43-cap-set-15), how many seeds rose / fell / stayed, and a
two-sided Mann-Whitney test.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
PAIRS = {  # problem -> (the earlier record, this re-run's record)
    "cap_set_8": (
        RESULTS / "suite-cap-set-8-15-seeds",
        RESULTS / "suite-evoforge-oracle-3324c43-cap-set-15",
    ),
}
DEFAULT_PAIR = (RESULTS / "suite-main-500", HERE)


def _scores(path: Path, problem: str) -> dict[int, float]:
    """seed -> evoforge-oracle's best score on ``problem`` (finished 500-evaluation runs)."""
    found: dict[int, float] = {}
    for line in (path / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if (
            row["engine"] == "evoforge-oracle"
            and row["problem"] == problem
            and row["budget"] == 500
            and row["status"] == "ok"
        ):
            found[row["seed"]] = float(row["best_score"])
    return found


def main() -> None:
    problems = sorted({json.loads(line)["problem"] for line in (HERE / "runs.jsonl").open()})
    print("| problem | seeds | before | now | up / down / level | p |")
    print("|---|---:|---:|---:|---|---:|")
    for problem in problems:
        earlier, now = PAIRS.get(problem, DEFAULT_PAIR)
        before, after = _scores(earlier, problem), _scores(now, problem)
        seeds = sorted(set(before) & set(after))
        old = [before[seed] for seed in seeds]
        new = [after[seed] for seed in seeds]
        up = sum(b > a + 1e-12 for a, b in zip(old, new, strict=True))
        down = sum(b < a - 1e-12 for a, b in zip(old, new, strict=True))
        p = 1.0 if sorted(old) == sorted(new) else mannwhitneyu(old, new).pvalue
        print(
            f"| {problem} | {len(seeds)} | {statistics.median(old):.4f} | "
            f"{statistics.median(new):.4f} | {up} / {down} / {len(seeds) - up - down} | {p:.2f} |"
        )


if __name__ == "__main__":
    main()
