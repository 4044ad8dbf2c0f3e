"""Recompute the figures of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/integer-period-trial/figures.py

Per problem: symbolic evoforge with ``mutate``'s ``period`` wrap offered only on
integer-valued expressions (``integer-period.diff`` on ``fe712d6``) against main's search
on the same seeds: each seed's best score and whether the run repeated main's run
exactly (same trajectory), the medians, main's interquartile range, the seeds up, down and
level, and a two-sided Mann-Whitney test.

With ``--runs OUT ...`` (the trial's ``evoforge bench`` output directories, whose run
databases are not committed): per problem, the evaluated ``mutate`` children whose note
starts with a ``period`` wrap against those starting with another wrap, how many failed
and how many scored above their parent.

Main's runs: cap_set_8's 15 seeds from ``clean-winners/cap-set-15-after``,
min_max_distance_16's seeds 0-4 from ``suite-evoforge-d6b0d1b-500`` and 5-14 from
``period-wrap-trial/min-max-15-main``, circle_packing_26's from
``suite-evoforge-d6b0d1b-500`` (main at ``fe712d6`` repeats all of them seed for seed).
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


def wrap_outcomes(outs: list[Path]) -> None:
    """Evaluated wrap children per problem: (count, failed, above their parent)."""
    for out in outs:
        for problem_dir in sorted((out / "runs").iterdir()):
            counts = {"period": [0, 0, 0], "other": [0, 0, 0]}
            for database in sorted(problem_dir.glob("evoforge/*/run/run.sqlite")):
                rows = sqlite3.connect(database).execute(
                    "select id, parent_id, score, reason from programs where evaluated"
                )
                programs = list(rows)
                scores = {pid: score for pid, _, score, _ in programs}
                for _, parent, score, reason in programs:
                    if not (reason or "").startswith("mutate: wrap"):
                        continue
                    tally = counts[
                        "period" if reason.startswith("mutate: wrap period") else "other"
                    ]
                    tally[0] += 1
                    if score is None:
                        tally[1] += 1
                    elif scores.get(parent) is not None and score > scores[parent]:
                        tally[2] += 1
            print(
                f"{problem_dir.name}: evaluated wrap children (count, failed, above parent):"
                f" period {tuple(counts['period'])}, other {tuple(counts['other'])}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="*", type=Path, default=[])
    args = parser.parse_args()
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
    wrap_outcomes(args.runs)


if __name__ == "__main__":
    main()
