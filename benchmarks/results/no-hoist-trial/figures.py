"""Recompute the table of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/no-hoist-trial/figures.py

Per problem: symbolic evoforge without ``mutate``'s ``hoist`` edit (this directory's
``runs.jsonl``) against main's runs of the same seeds (suite-evoforge-d6b0d1b-500, which
main repeats exactly): both medians, main's interquartile range, the seeds where the trial
is higher / lower / level, whether the trial's median is below main's first quartile, and
a two-sided Mann-Whitney test.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
MAIN = HERE.parent / "suite-evoforge-d6b0d1b-500" / "runs.jsonl"


def _scores(path: Path) -> dict[str, dict[int, float]]:
    """problem -> seed -> best score of symbolic evoforge's finished 500-evaluation runs."""
    found: dict[str, dict[int, float]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["engine"] == "evoforge" and row["budget"] == 500 and row["status"] == "ok":
            found.setdefault(row["problem"], {})[row["seed"]] = float(row["best_score"])
    return found


def main(trial_runs: Path = HERE / "runs.jsonl", label: str = "no hoist") -> None:
    """Print the table for the trial's ``runs.jsonl`` (another trial's records may reuse
    this with their own path and column label)."""
    trial = _scores(trial_runs)
    main_runs = _scores(MAIN)
    print(
        f"| problem | seeds | main, median (IQR) | {label}, median | up / down / level | "
        "below main's IQR | p |"
    )
    print("|---|---:|---|---:|---|---|---:|")
    for problem, scores in trial.items():
        seeds = sorted(set(scores) & set(main_runs.get(problem, {})))
        if not seeds:
            continue
        before = [main_runs[problem][seed] for seed in seeds]
        after = [scores[seed] for seed in seeds]
        low, high = np.percentile(before, [25, 75])
        up = sum(b > a + 1e-12 for a, b in zip(before, after, strict=True))
        down = sum(b < a - 1e-12 for a, b in zip(before, after, strict=True))
        median = statistics.median(after)
        p_value = mannwhitneyu(before, after).pvalue if before != after else 1.0
        print(
            f"| {problem} | {len(seeds)} | {statistics.median(before):.4f} "
            f"({low:.4f}-{high:.4f}) | {median:.4f} | {up} / {down} / {len(seeds) - up - down} | "
            f"{'yes' if median < low else 'no'} | {p_value:.2f} |"
        )


if __name__ == "__main__":
    main()
