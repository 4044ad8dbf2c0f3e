"""Recompute the figures of this directory's NOTES.md from the committed records.

    .venv/bin/python benchmarks/results/suite-cap-set-8-15-seeds/figures.py

1. Per engine, cap_set_8's 15 best scores (seeds 0-14, 500 evaluations): the median, how
   many runs never left the seed's 0.5 and how many reached 0.875.
2. Symbolic evoforge against each other engine: a two-sided Mann-Whitney test.
3. The median over seeds 0-4 alone (what a five-seed row reads) against the 15-seed one.
4. For the four engines re-run here: seeds 0-4 against the same seeds in suite-main-500.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
SUITE_MAIN = HERE.parent / "suite-main-500" / "runs.jsonl"
PROBLEM = "cap_set_8"
ENGINES = ("evoforge", "evoforge-oracle", "openevolve", "random-search", "best-of-n")


def _scores(path: Path) -> dict[str, dict[int, float]]:
    scores: dict[str, dict[int, float]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row: dict[str, Any] = json.loads(line)
        if row["problem"] == PROBLEM and row["budget"] == 500 and row["status"] == "ok":
            scores.setdefault(row["engine"], {})[row["seed"]] = float(row["best_score"])
    return scores


def main() -> None:
    here = _scores(HERE / "runs.jsonl")
    before = _scores(SUITE_MAIN)
    print("engine | median (15) | median (seeds 0-4) | at 0.5 | at 0.875 | per seed 0-14")
    for engine in ENGINES:
        runs = [here[engine][seed] for seed in range(15)]
        five = runs[:5]
        print(
            f"{engine} | {statistics.median(runs):.4f} | {statistics.median(five):.4f} | "
            f"{sum(s == 0.5 for s in runs)} | {sum(s == 0.875 for s in runs)} | "
            + " ".join(f"{s:.4f}" for s in runs)
        )
    mine = [here["evoforge"][seed] for seed in range(15)]
    print("\nsymbolic evoforge against (two-sided Mann-Whitney, 15 and 15 runs):")
    for engine in ENGINES[1:]:
        other = [here[engine][seed] for seed in range(15)]
        p = mannwhitneyu(mine, other, alternative="two-sided").pvalue
        print(f"  {engine}: p = {p:.3f}")
    print("\nseeds 0-4 here against suite-main-500 (same seeds, earlier revision):")
    for engine in ENGINES[1:]:
        pairs = [(before[engine][seed], here[engine][seed]) for seed in range(5)]
        same = sum(a == b for a, b in pairs)
        print(
            f"  {engine}: {same} of 5 the same; before "
            + " ".join(f"{a:.4f}" for a, _ in pairs)
            + "; here "
            + " ".join(f"{b:.4f}" for _, b in pairs)
        )


if __name__ == "__main__":
    main()
