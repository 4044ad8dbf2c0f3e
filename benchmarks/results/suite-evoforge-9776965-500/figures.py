"""The figures of this directory's NOTES.md, from the committed records.

    .venv/bin/python benchmarks/results/suite-evoforge-9776965-500/figures.py

Per problem re-run here: main's cell before this record (suite-evoforge-a89d669-500 for
optimizer_update_rule, suite-evoforge-d6b0d1b-500 for the rest), the median here, how
many seeds rose / fell / stayed, how many runs repeat the earlier run exactly (same best
program and same best-so-far after every evaluation), and a two-sided Mann-Whitney test.
cap_set_8 over its 15 seeds where the 15-seed records are present.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
EARLIER = {"optimizer_update_rule": RESULTS / "suite-evoforge-a89d669-500"}
EARLIER_DEFAULT = RESULTS / "suite-evoforge-d6b0d1b-500"
CAP_SET_15 = (
    RESULTS / "suite-evoforge-9776965-cap-set-15",
    RESULTS / "suite-cap-set-8-15-seeds",
)


def _runs(path: Path, problem: str) -> dict[int, dict]:
    """seed -> symbolic evoforge's finished 500-evaluation run of ``problem``."""
    found: dict[int, dict] = {}
    for line in (path / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if (
            row["engine"] == "evoforge"
            and row["problem"] == problem
            and row["budget"] == 500
            and row["status"] == "ok"
        ):
            found[row["seed"]] = row
    return found


def _line(problem: str, before: dict[int, dict], after: dict[int, dict]) -> str:
    seeds = sorted(set(before) & set(after))
    old = [float(before[seed]["best_score"]) for seed in seeds]
    new = [float(after[seed]["best_score"]) for seed in seeds]
    up = sum(b > a + 1e-12 for a, b in zip(old, new, strict=True))
    down = sum(b < a - 1e-12 for a, b in zip(old, new, strict=True))
    same = sum(
        before[seed]["best_code"] == after[seed]["best_code"]
        and before[seed]["trajectory"] == after[seed]["trajectory"]
        for seed in seeds
    )
    p_value = mannwhitneyu(old, new).pvalue if old != new else 1.0
    return (
        f"| {problem} | {len(seeds)} | {statistics.median(old):.4f} | "
        f"{statistics.median(new):.4f} | {up} / {down} / {len(seeds) - up - down} | "
        f"{same} | {p_value:.2f} |"
    )


def main() -> None:
    print("| problem | seeds | before | now | up / down / level | same runs | p |")
    print("|---|---:|---:|---:|---|---:|---:|")
    lines = (HERE / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    problems = sorted({json.loads(line)["problem"] for line in lines})
    for problem in problems:
        earlier = EARLIER.get(problem, EARLIER_DEFAULT)
        print(_line(problem, _runs(earlier, problem), _runs(HERE, problem)))
    now, before = CAP_SET_15
    if now.is_dir() and before.is_dir():
        print(_line("cap_set_8 (15 seeds)", _runs(before, "cap_set_8"), _runs(now, "cap_set_8")))


if __name__ == "__main__":
    main()
