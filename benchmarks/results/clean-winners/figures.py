"""Recompute the figures of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/clean-winners/figures.py

1. Dead stores left in the suite's winners: for each run's best program (``best_code``
   in ``runs.jsonl``), the assignments in a function body that are never read, or that a
   later assignment to the same name replaces before anything reads them; and whether
   ``simplify`` (the code checked out now) still finds anything to remove.
2. Per problem, whether each seed's best score is the same in both suite records.
3. cap_set_8 over 15 seeds before and after: medians, runs left at the seed's 0.5, the
   paired seeds and a two-sided Mann-Whitney test.
4. optimizer_update_rule at ``a89d669`` (reads of a mapping parameter count as side-effect
   free): its winners' dead stores, and its five seeds against ``d6b0d1b``'s.
"""

from __future__ import annotations

import ast
import json
import statistics
from pathlib import Path
from typing import Any

from scipy.stats import mannwhitneyu

from evoforge.operators.dead_code import entry_point_names
from evoforge.operators.simplify import simplify_program

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
PROBLEMS = RESULTS.parent / "problems"
BEFORE = RESULTS / "suite-evoforge-64b5468-500" / "runs.jsonl"
AFTER = RESULTS / "suite-evoforge-d6b0d1b-500" / "runs.jsonl"
MAPPING_READS = RESULTS / "suite-evoforge-a89d669-500" / "runs.jsonl"


def _rows(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return {(r["problem"], r["seed"]): r for r in rows if r["engine"] == "evoforge"}


def dead_stores(code: str) -> list[str]:
    """``function: name`` for each assignment of a single name that nothing reads before
    the function ends or the name is assigned again (same statement list only)."""
    found = []
    for function in ast.walk(ast.parse(code)):
        if not isinstance(function, ast.FunctionDef):
            continue
        body = function.body
        for index, statement in enumerate(body):
            if not (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
            ):
                continue
            name = statement.targets[0].id
            for later in body[index + 1 :]:
                if any(
                    isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
                    for n in ast.walk(later)
                ):
                    break
                if isinstance(later, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in later.targets
                ):
                    found.append(f"{function.name}: {name} (replaced)")
                    break
            else:
                found.append(f"{function.name}: {name} (never read)")
    return found


def winners(path: Path, label: str) -> None:
    runs = _rows(path)
    with_dead, simplifiable = [], []
    for (problem, seed), row in sorted(runs.items()):
        code = str(row["best_code"])
        if dead_stores(code):
            with_dead.append(f"{problem} s{seed}: {', '.join(dead_stores(code))}")
        folder = PROBLEMS / problem
        protected = entry_point_names(
            (folder / "initial_program.py").read_text(encoding="utf-8"),
            (folder / "evaluator.py").read_text(encoding="utf-8"),
        )
        if simplify_program(code, protected) is not None:
            simplifiable.append(f"{problem} s{seed}")
    print(f"{label}: {len(runs)} winners, {len(with_dead)} with dead stores")
    for line in with_dead:
        print("   ", line)
    print(f"    simplify finds something in {len(simplifiable)}: {', '.join(simplifiable)}")


def same_seeds() -> None:
    before, after = _rows(BEFORE), _rows(AFTER)
    for problem in sorted({p for p, _ in after}):
        seeds = sorted(s for p, s in after if p == problem)
        old = [float(before[(problem, s)]["best_score"]) for s in seeds]
        new = [float(after[(problem, s)]["best_score"]) for s in seeds]
        same = sum(a == b for a, b in zip(old, new, strict=True))
        print(
            f"{problem:24s} same best on {same} of {len(seeds)} seeds; "
            f"median {statistics.median(old):.4f} -> {statistics.median(new):.4f}"
        )


def cap_set() -> None:
    arms = {}
    for arm in ("before", "after"):
        rows = _rows(HERE / f"cap-set-15-{arm}" / "runs.jsonl")
        arms[arm] = {seed: float(r["best_score"]) for (_, seed), r in rows.items()}
        scores = list(arms[arm].values())
        print(
            f"cap_set_8 {arm}: {len(scores)} seeds, median {statistics.median(scores):.4f}, "
            f"left at 0.5: {sum(s == 0.5 for s in scores)}, seeds 0-4 median "
            f"{statistics.median(arms[arm][s] for s in range(5)):.4f}"
        )
    before, after = arms["before"], arms["after"]
    up = sum(after[s] > before[s] for s in before)
    down = sum(after[s] < before[s] for s in before)
    test = mannwhitneyu(list(before.values()), list(after.values()), alternative="two-sided")
    equal = len(before) - up - down
    print(f"paired: {up} up, {down} down, {equal} equal; Mann-Whitney p {test.pvalue:.2f}")
    print("   ", ", ".join(f"s{s} {before[s]:.4f}->{after[s]:.4f}" for s in sorted(before)))


def optimizer() -> None:
    before, after = _rows(AFTER), _rows(MAPPING_READS)
    pairs = [
        (seed, float(before[(p, seed)]["best_score"]), float(row["best_score"]))
        for (p, seed), row in sorted(after.items())
    ]
    print(
        f"optimizer_update_rule d6b0d1b -> a89d669: median "
        f"{statistics.median(b for _, b, _ in pairs):.4f} -> "
        f"{statistics.median(a for _, _, a in pairs):.4f}; "
        + ", ".join(f"s{seed} {b:.4f}->{a:.4f}" for seed, b, a in pairs)
    )


if __name__ == "__main__":
    winners(BEFORE, "64b5468")
    winners(AFTER, "d6b0d1b")
    same_seeds()
    cap_set()
    winners(MAPPING_READS, "a89d669")
    optimizer()
