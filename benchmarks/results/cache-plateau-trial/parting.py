"""Figures of the step-growth section of this directory's README, from the records.

python parting.py                      # first differences, more-seeds medians and p
python parting.py --runs OUT/runs      # also larger-step children, from a bench's run
                                       # databases at e3875ca (the runs/ folder git ignores)
"""

import argparse
import json
import sqlite3
import statistics
from pathlib import Path

from scipy.stats import mannwhitneyu

HERE = Path(__file__).parent
SIGMA = 0.1  # tune's default sigma, which every suite problem keeps


def best_scores(path: Path) -> dict[tuple[str, int], dict]:
    """Each evoforge run of a ``runs.jsonl``, keyed by (problem, seed)."""
    rows = (json.loads(line) for line in path.open())
    return {(r["problem"], r["seed"]): r for r in rows if r["engine"] == "evoforge"}


def first_differences() -> None:
    """Where each pair's best-so-far trajectories first differ (None: never)."""
    old = best_scores(HERE.parent / "suite-evoforge-64b5468-500" / "runs.jsonl")
    new = best_scores(HERE / "step-growth-suite" / "runs.jsonl")
    for problem in sorted({p for p, _ in new}):
        parts = []
        for seed in range(5):
            a, b = old[(problem, seed)]["trajectory"], new[(problem, seed)]["trajectory"]
            parts.append(
                next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            )
        print(f"{problem}: {parts}")


def more_seeds() -> None:
    """Medians, paired ups and downs and the Mann-Whitney p of the more-seeds arms."""
    for stock, growth in [
        ("more-seeds-stock", "more-seeds-growth"),
        ("more-seeds-sor-stock", "more-seeds-sor-growth"),
    ]:
        a, b = best_scores(HERE / stock / "runs.jsonl"), best_scores(HERE / growth / "runs.jsonl")
        for problem in sorted({p for p, _ in a}):
            seeds = sorted(s for p, s in a if p == problem and (p, s) in b)
            x = [a[(problem, s)]["best_score"] for s in seeds]
            y = [b[(problem, s)]["best_score"] for s in seeds]
            up = sum(v > u for u, v in zip(x, y, strict=True))
            down = sum(v < u for u, v in zip(x, y, strict=True))
            print(
                f"{problem} ({len(seeds)} seeds): without {statistics.median(x):.4f}, "
                f"with {statistics.median(y):.4f}, up {up} / down {down}, "
                f"p {mannwhitneyu(x, y).pvalue:.2f}"
            )


def larger_steps(runs: Path) -> None:
    """Per problem: tune children whose step exceeded sigma, how many beat their parent,
    how many failed."""
    for problem_dir in sorted(p for p in runs.iterdir() if p.is_dir()):
        total = improved = failed = 0
        for db in sorted(problem_dir.glob("evoforge/b500-s*/run/run.sqlite")):
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
                rows = connection.execute(
                    "select c.params, c.score, p.score from programs c "
                    "join programs p on c.parent_id = p.id where c.operator = 'tune'"
                ).fetchall()
            for params, score, parent_score in rows:
                if json.loads(params or "{}").get("step", 0.0) <= SIGMA * (1 + 1e-9):
                    continue
                total += 1
                improved += score is not None and parent_score is not None and score > parent_score
                failed += score is None
        print(
            f"{problem_dir.name}: {total} children above sigma, "
            f"{improved} improved, {failed} failed"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="a bench's runs/ folder at e3875ca")
    args = parser.parse_args()
    first_differences()
    more_seeds()
    if args.runs is not None:
        larger_steps(args.runs)
