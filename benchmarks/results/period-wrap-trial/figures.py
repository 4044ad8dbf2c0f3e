"""Recompute the figures of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/period-wrap-trial/figures.py

Per problem: symbolic evoforge with ``mutate``'s ``period`` wrap (``period-wrap.diff``
on ``a89d669``) against main's search on the same seeds: each seed's best score, the
medians, main's interquartile range, whether the trial's median falls below main's row by
more than that range, a two-sided Mann-Whitney test, and how many of the trial's winners
contain a ``%`` in either search.

With ``--runs OUT ...`` (the trial's ``evoforge bench`` output directories, whose run
databases are not committed): per problem, the evaluated ``mutate`` children whose first
edit note names a ``period`` wrap against those naming another wrap, the share that failed
and the share that scored above their parent.

Main's runs: ``suite-evoforge-d6b0d1b-500`` (whose runs ``a89d669`` repeats on every
problem but optimizer_update_rule), ``suite-evoforge-a89d669-500`` for that one,
cap_set_8's 15 seeds from ``clean-winners/cap-set-15-after`` and min_max_distance_16's
from ``min-max-15-main`` here.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
MAIN = (
    RESULTS / "suite-evoforge-a89d669-500" / "runs.jsonl",
    RESULTS / "clean-winners" / "cap-set-15-after" / "runs.jsonl",
    HERE / "min-max-15-main" / "runs.jsonl",
    RESULTS / "suite-evoforge-d6b0d1b-500" / "runs.jsonl",
)
TRIAL = (HERE / "cap-set-min-max-15" / "runs.jsonl", HERE / "suite-10" / "runs.jsonl")


def _load(paths: tuple[Path, ...]) -> dict[str, dict[int, dict[str, object]]]:
    """problem -> seed -> run; the first file that has a problem wins for it."""
    found: dict[str, dict[int, dict[str, object]]] = {}
    for path in paths:
        mine: dict[str, dict[int, dict[str, object]]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["engine"] == "evoforge" and row["budget"] == 500 and row["status"] == "ok":
                mine.setdefault(row["problem"], {})[row["seed"]] = row
        for problem, runs in mine.items():
            found.setdefault(problem, runs)
    return found


def _block(code: str) -> str:
    return code[code.find("EVOLVE-BLOCK-START") : code.find("EVOLVE-BLOCK-END")]


def wrap_outcomes(outs: list[Path]) -> None:
    """Failed and improving shares of ``mutate``'s wrapped children, period against the
    other wraps, from the run databases under each ``OUT/runs/``."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for out in outs:
        for database in sorted(out.glob("runs/*/evoforge/*/run/run.sqlite")):
            problem = database.parts[-5]
            with sqlite3.connect(database) as connection:
                scores = dict(connection.execute("SELECT id, score FROM programs"))
                rows = connection.execute(
                    "SELECT reason, status, score, parent_id FROM programs "
                    "WHERE operator = 'mutate' AND evaluated = 1"
                ).fetchall()
            for reason, status, score, parent in rows:
                first = str(reason).split("\n")[0]
                if "wrap " not in first:
                    continue
                tally = counts[(problem, "period" if "wrap period" in first else "other wraps")]
                tally["children"] += 1
                if status != "ok":
                    tally["failed"] += 1
                elif (
                    score is not None and scores.get(parent) is not None and score > scores[parent]
                ):
                    tally["better"] += 1
    for (problem, kind), tally in sorted(counts.items()):
        n = tally["children"]
        print(
            f"{problem} {kind}: {n} children, failed {100 * tally['failed'] / n:.0f} %, "
            f"above their parent {100 * tally['better'] / n:.1f} %"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", type=Path, default=[], metavar="OUT")
    args = parser.parse_args()
    main_runs, trial_runs = _load(MAIN), _load(TRIAL)
    for problem in sorted(trial_runs):
        seeds = sorted(trial_runs[problem])
        old = [float(main_runs[problem][s]["best_score"]) for s in seeds]  # type: ignore[arg-type]
        new = [float(trial_runs[problem][s]["best_score"]) for s in seeds]  # type: ignore[arg-type]
        low, high = np.percentile(old, [25, 75])
        fell = statistics.median(new) < statistics.median(old) - (high - low)
        p = mannwhitneyu(old, new, alternative="two-sided").pvalue
        with_mod = sum("%" in _block(str(trial_runs[problem][s]["best_code"])) for s in seeds)
        main_mod = sum("%" in _block(str(main_runs[problem][s]["best_code"])) for s in seeds)
        print(
            f"{problem} ({len(seeds)} seeds): main {statistics.median(old):.4f} "
            f"(IQR {low:.4f}-{high:.4f}), period {statistics.median(new):.4f}; "
            f"falls by more than the IQR: {'yes' if fell else 'no'}; Mann-Whitney p {p:.2f}; "
            f"winners with a %: main {main_mod}, period {with_mod}"
        )
        print("    main  ", " ".join(f"{v:.4f}" for v in old))
        print("    period", " ".join(f"{v:.4f}" for v in new))
    if args.runs:
        wrap_outcomes(args.runs)


if __name__ == "__main__":
    main()
