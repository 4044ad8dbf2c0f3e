"""Recompute the figures of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/earlier-rows-more-seeds/figures.py

Per comparison: symbolic evoforge in two forms over every seed both have, 500
evaluations each (each directory holds one problem): the medians and interquartile ranges
over all seeds and over seeds 0-4 (the seeds of the tables), the seeds where the second
is higher, and a two-sided Mann-Whitney test. The first two compare the revision of the
earlier row (the row the suite's goals were set against) with main; the third, main with
``tune``'s single-literal moves on (its default) and off.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
# (problem, first directory, its label, second directory, its label)
COMPARISONS = (
    (
        "circle_packing_26",
        "circle-packing-26-d577f0f",
        "d577f0f",
        "circle-packing-26-main",
        "main",
    ),
    (
        "optimizer_update_rule",
        "optimizer-update-rule-6fc474b",
        "6fc474b",
        "optimizer-update-rule-main",
        "main",
    ),
    (
        "optimizer_update_rule",
        "optimizer-update-rule-main",
        "main",
        "optimizer-update-rule-main-no-single-moves",
        "main, single moves off",
    ),
)


def _scores(directory: Path) -> dict[int, float]:
    """seed -> best score of symbolic evoforge's finished 500-evaluation runs."""
    found: dict[int, float] = {}
    for line in (directory / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["engine"] == "evoforge" and row["budget"] == 500 and row["status"] == "ok":
            found[row["seed"]] = float(row["best_score"])
    return found


def _summary(values: list[float]) -> str:
    low, high = np.percentile(values, [25, 75])
    return f"{statistics.median(values):.4f} ({low:.4f}-{high:.4f})"


def main() -> None:
    print(
        "| problem | first / second | seeds | first, median (IQR) | second, median (IQR) | "
        "seeds 0-4: first / second | second higher | p |"
    )
    print("|---|---|---:|---|---|---|---|---:|")
    for problem, first_dir, first_label, second_dir, second_label in COMPARISONS:
        if not (HERE / first_dir).is_dir() or not (HERE / second_dir).is_dir():
            continue
        first = _scores(HERE / first_dir)
        second = _scores(HERE / second_dir)
        seeds = sorted(set(first) & set(second))
        before = [first[seed] for seed in seeds]
        after = [second[seed] for seed in seeds]
        early = [seed for seed in seeds if seed < 5]
        higher = sum(b > a for a, b in zip(before, after, strict=True))
        p_value = mannwhitneyu(before, after).pvalue
        print(
            f"| {problem} | {first_label} / {second_label} | {len(seeds)} | "
            f"{_summary(before)} | {_summary(after)} | "
            f"{statistics.median(first[s] for s in early):.4f} / "
            f"{statistics.median(second[s] for s in early):.4f} | "
            f"{higher} of {len(seeds)} | {p_value:.2f} |"
        )


if __name__ == "__main__":
    main()
