"""Recompute the figures of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/integer-period-trial/figures.py

Per problem: symbolic evoforge with ``mutate``'s ``period`` wrap offered only on
integer-valued expressions (``integer-period.diff`` on ``fe712d6``) against main's search
on the same seeds: each seed's best score and whether the run repeated main's run
exactly (same trajectory), the medians, main's interquartile range, the seeds up, down and
level, and a two-sided Mann-Whitney test.

Main's runs: cap_set_8's 15 seeds from ``clean-winners/cap-set-15-after``,
min_max_distance_16's seeds 0-4 from ``suite-evoforge-d6b0d1b-500`` and 5-14 from
``period-wrap-trial/min-max-15-main``, circle_packing_26's from
``suite-evoforge-d6b0d1b-500`` (main at ``fe712d6`` repeats all of them seed for seed).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
MAIN = (
    RESULTS / "clean-winners" / "cap-set-15-after" / "runs.jsonl",
    RESULTS / "suite-evoforge-d6b0d1b-500" / "runs.jsonl",
    RESULTS / "period-wrap-trial" / "min-max-15-main" / "runs.jsonl",
)
Run = dict[str, object]


def _load(paths: tuple[Path, ...]) -> dict[str, dict[int, Run]]:
    """problem -> seed -> run (symbolic evoforge, 500 evaluations); earlier files win."""
    found: dict[str, dict[int, Run]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["engine"] == "evoforge" and row["budget"] == 500 and row["status"] == "ok":
                found.setdefault(row["problem"], {}).setdefault(row["seed"], row)
    return found


def _seed_score(run: Run) -> float:
    return float(run["initial_score"])  # type: ignore[arg-type]


def main() -> None:
    trial = _load((HERE / "runs.jsonl",))
    reference = _load(MAIN)
    for problem, runs in trial.items():
        seeds = sorted(runs)
        ours = [float(runs[s]["best_score"]) for s in seeds]  # type: ignore[arg-type]
        theirs = [float(reference[problem][s]["best_score"]) for s in seeds]  # type: ignore[arg-type]
        same = [runs[s]["trajectory"] == reference[problem][s]["trajectory"] for s in seeds]
        print(f"## {problem} ({len(seeds)} seeds)")
        for seed, a, b, repeated in zip(seeds, ours, theirs, same, strict=True):
            print(
                f"  seed {seed:2d}: trial {a:.4f}  main {b:.4f}  {'same run' if repeated else ''}"
            )
        q1, q3 = np.percentile(theirs, [25, 75])
        up = sum(a > b for a, b in zip(ours, theirs, strict=True))
        down = sum(a < b for a, b in zip(ours, theirs, strict=True))
        print(
            f"  median trial {statistics.median(ours):.4f}, main {statistics.median(theirs):.4f}"
            f" (IQR {q1:.4f}-{q3:.4f}); runs repeated exactly {sum(same)} of {len(seeds)};"
            f" up {up}, down {down}, level {len(seeds) - up - down}"
        )
        stuck_trial = sum(a <= _seed_score(runs[s]) for s, a in zip(seeds, ours, strict=True))
        stuck_main = sum(
            b <= _seed_score(reference[problem][s]) for s, b in zip(seeds, theirs, strict=True)
        )
        print(f"  runs left at the seed's score: trial {stuck_trial}, main {stuck_main}")
        if ours != theirs:
            p = mannwhitneyu(ours, theirs, alternative="two-sided").pvalue
            print(f"  Mann-Whitney (two-sided) p {p:.3f}")


if __name__ == "__main__":
    main()
