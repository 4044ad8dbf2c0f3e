"""Recompute the figures of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/neutral-drift-trial/figures.py

Per problem: symbolic evoforge with ``archive.neutral_drift: true`` (``runs.jsonl`` here)
against main's search with it off, on the same seeds: the medians, main's interquartile
range, the seeds up, down and level, and a two-sided Mann-Whitney test.

Main's runs: cap_set_8's 15 seeds from ``clean-winners/cap-set-15-after``, the other
problems' seeds 0-4 from ``suite-evoforge-d6b0d1b-500`` (main repeats them seed for seed).

With ``--runs OUT ...`` (``evoforge bench`` output directories of the trial, whose run
databases are not committed): per problem, the mean count per run of evaluated children
whose insert was ``tied`` (took its cell on an equal score), ``not_added``, ``improved``
and ``new_cell``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
MAIN = (
    RESULTS / "clean-winners" / "cap-set-15-after" / "runs.jsonl",
    RESULTS / "suite-evoforge-d6b0d1b-500" / "runs.jsonl",
)
OUTCOMES = ("tied", "not_added", "improved", "new_cell")


def _scores(paths: tuple[Path, ...]) -> dict[str, dict[int, float]]:
    """problem -> seed -> best score (symbolic evoforge, 500 evaluations); earlier files win."""
    found: dict[str, dict[int, float]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["engine"] == "evoforge" and row["budget"] == 500 and row["status"] == "ok":
                found.setdefault(row["problem"], {}).setdefault(row["seed"], row["best_score"])
    return found


def comparison() -> None:
    """The README's table: one row per problem the trial ran on every seed it started."""
    main = _scores(MAIN)
    trial = _scores((HERE / "runs.jsonl",))
    print("| problem | seeds | main median (IQR) | neutral drift median | up / down / level | p |")
    print("|---|---:|---|---:|---|---:|")
    for problem, runs in trial.items():
        seeds = sorted(runs)
        before = [main[problem][seed] for seed in seeds]
        after = [runs[seed] for seed in seeds]
        up = sum(b > a for a, b in zip(before, after, strict=True))
        down = sum(b < a for a, b in zip(before, after, strict=True))
        low, high = np.percentile(before, [25, 75])
        test = "-" if before == after else f"{mannwhitneyu(before, after).pvalue:.2f}"
        print(
            f"| {problem} | {len(seeds)} | {statistics.median(before):.4f} "
            f"({low:.4f}-{high:.4f}) | {statistics.median(after):.4f} | "
            f"{up} / {down} / {len(seeds) - up - down} | {test} |"
        )


def outcome_counts(outs: list[Path]) -> None:
    """Mean evaluated children per run by insert outcome, per problem."""
    for out in outs:
        for problem_dir in sorted((out / "runs").iterdir()):
            counts: dict[str, list[int]] = {name: [] for name in OUTCOMES}
            for database in sorted(problem_dir.glob("evoforge/*/run/run.sqlite")):
                with sqlite3.connect(database) as connection:
                    for name in OUTCOMES:
                        (count,) = connection.execute(
                            "SELECT COUNT(*) FROM programs WHERE evaluated = 1"
                            " AND outcome_status = ?",
                            (name,),
                        ).fetchone()
                        counts[name].append(count)
            runs = len(counts["tied"])
            if runs:
                means = ", ".join(
                    f"{name} {statistics.mean(counts[name]):.0f}" for name in OUTCOMES
                )
                print(f"{problem_dir.name} ({runs} runs): {means}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, help="the trial's bench outputs")
    args = parser.parse_args()
    if args.runs:
        outcome_counts(args.runs)
    else:
        comparison()


if __name__ == "__main__":
    main()
