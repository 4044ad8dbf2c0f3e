"""Recompute the figures of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/earlier-rows-more-seeds/figures.py

Per comparison: symbolic evoforge in two forms over every seed both have, 500
evaluations each (each directory holds one problem): the medians and interquartile ranges
over all seeds and over seeds 0-4 (the seeds of the tables), the seeds where the second
is higher, and a two-sided Mann-Whitney test. Those of the revision of the earlier row
(the row the suite's goals were set against) compare it with main; the others compare
main with itself without one part (``tune``'s single-literal moves, ``mutate``'s
``hoist`` edit). Then, for cache_eviction, the runs of each form past the plateau of
0.4848, and Fisher's exact test of the earlier revision's against main's.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
from scipy.stats import fisher_exact, mannwhitneyu

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
    ("cache_eviction", "cache-eviction-6fc474b", "6fc474b", "cache-eviction-main", "main"),
    (
        "cache_eviction",
        "cache-eviction-main",
        "main",
        "cache-eviction-main-no-single-moves",
        "main, single moves off",
    ),
    (
        "cache_eviction",
        "cache-eviction-main",
        "main",
        "cache-eviction-main-no-hoist",
        "main, no hoist edit",
    ),
)
#: cache_eviction's plateau, the limit of a large prediction bonus (0.484784...)
CACHE_PLATEAU = 0.48479
CACHE_DIRECTORIES = (
    ("cache-eviction-6fc474b", "6fc474b"),
    ("cache-eviction-main", "main"),
    ("cache-eviction-main-no-single-moves", "main, single moves off"),
    ("cache-eviction-main-no-hoist", "main, no hoist edit"),
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
        if not all((HERE / name / "runs.jsonl").is_file() for name in (first_dir, second_dir)):
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

    print()
    print("| cache_eviction | seeds | runs past 0.4848 | per seed |")
    print("|---|---:|---:|---|")
    passed: dict[str, tuple[int, int]] = {}
    for directory, label in CACHE_DIRECTORIES:
        if not (HERE / directory / "runs.jsonl").is_file():
            continue
        scores = _scores(HERE / directory)
        above = sum(score > CACHE_PLATEAU for score in scores.values())
        passed[label] = (above, len(scores))
        per_seed = ", ".join(f"{scores[seed]:.4f}" for seed in sorted(scores))
        print(f"| {label} | {len(scores)} | {above} | {per_seed} |")
    if "6fc474b" in passed and "main" in passed:
        (a, n), (b, m) = passed["6fc474b"], passed["main"]
        p_value = fisher_exact([[a, n - a], [b, m - b]]).pvalue
        print(f"\n6fc474b against main, runs past the plateau: Fisher's exact p {p_value:.2f}")


if __name__ == "__main__":
    main()
