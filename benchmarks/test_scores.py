"""Every engine of the README's table on the test instances of the five problems with
instance splits: the best program of each run the table cites, scored once on test.

    .venv/bin/python benchmarks/test_scores.py --out DIR [--problems P ...]
    .venv/bin/python benchmarks/test_scores.py --out DIR --table-only

The README's table ranks the engines by their best score on the search instances, the
ones every evaluation of the search scored. On data_selection, optimizer_update_rule,
sor_relaxation, cache_eviction and bin_packing the score that says how a result
generalises is on test instances no search saw (``evoforge.splits``). Runs made since
``evoforge bench`` scores every engine there (``evoforge.bench.held_out``) carry it; the
runs the table cites mostly predate that. This script takes those runs
(``suite_table.py``'s sources, the same cell for cell), scores each run's best program on
the test split with the problem's sandboxed evaluator (the seed program too), and writes
one JSON line per program to ``DIR/test_scores.jsonl``, resumably (a scored line is
never scored again). evoforge's engines also choose a final program on their holdout
through Thresholdout; their record keeps its test score, shown beside.

It prints the table: per problem and engine, the mean test score of the runs' best
programs over the seeds with its 95 % bootstrap interval (seeds resampled), the best in
bold, and the mean search score of the same programs; then evoforge's own final choices.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from split_scores import PROBLEMS as SPLIT_PROBLEMS
from suite_table import DEFAULT_SOURCES, SUITE

from evoforge.bench.current import current_records
from evoforge.bench.engines import DEFAULT_ENGINES, ENGINE_EVOFORGE, ENGINE_EVOFORGE_ORACLE
from evoforge.bench.harness import source_revision
from evoforge.bench.held_out import TestScorer
from evoforge.bench.intervals import Interval, mean_interval

SCORES_FILENAME = "test_scores.jsonl"
ROOT_PROBLEMS = Path(__file__).resolve().parent / "problems"
SEED_PROGRAM = "seed program"  # the engine field of the seed's own line
CHOOSING_ENGINES = (ENGINE_EVOFORGE, ENGINE_EVOFORGE_ORACLE)  # with a final choice of their own


def read_scores(path: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The scored lines by (problem, engine, seed); a torn last line is ignored."""
    scores: dict[tuple[str, str, int], dict[str, Any]] = {}
    if not path.is_file():
        return scores
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        scores[(entry["problem"], entry["engine"], entry["seed"])] = entry
    return scores


def score_runs(
    out: Path, problems: list[str], sources: list[Path], engines: list[str], seeds: int
) -> int:
    """Score what is not scored yet; the number of programs scored now."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / SCORES_FILENAME
    done = read_scores(path)
    found = current_records(sources, problems, engines, seeds=seeds, budget=500)
    revision = source_revision()
    todo: list[tuple[str, str, int, str, dict[str, Any]]] = []
    for problem in problems:
        seed_code = (ROOT_PROBLEMS / problem / "initial_program.py").read_text(encoding="utf-8")
        todo.append((problem, SEED_PROGRAM, 0, seed_code, {}))
        for engine in engines:
            if (problem, engine) not in found:
                raise SystemExit(f"test_scores: no source has {engine} on {problem} whole")
            source, records = found[(problem, engine)]
            for record in sorted(records, key=lambda r: r.seed):
                about = {
                    "source": source.name,
                    "run_revision": record.revision[:7],
                    "search_score": record.best_score,
                }
                final = record.extra.get("splits") if isinstance(record.extra, dict) else None
                if engine in CHOOSING_ENGINES and isinstance(final, dict):
                    about["final_search_score"] = final.get("search_score")
                    about["final_test_score"] = final.get("test_score")
                todo.append((problem, engine, record.seed, record.best_code, about))
    scored = 0
    scorers: dict[str, TestScorer] = {}  # one evaluator per problem, started when needed
    try:
        with open(path, "a", encoding="utf-8") as handle:
            for index, (problem, engine, seed, code, about) in enumerate(todo, 1):
                if (problem, engine, seed) in done:
                    continue
                if problem not in scorers:
                    for other in scorers.values():
                        other.close()
                    scorers = {problem: TestScorer(ROOT_PROBLEMS / problem)}
                started = time.monotonic()
                test = scorers[problem].score(code)
                entry = {
                    "problem": problem,
                    "engine": engine,
                    "seed": seed,
                    **about,
                    **test,
                    "seconds": round(time.monotonic() - started, 2),
                    "scored_at": revision,
                }
                handle.write(json.dumps(entry) + "\n")
                handle.flush()
                scored += 1
                shown = "failed" if test["test_score"] is None else f"{test['test_score']:.4f}"
                print(
                    f"scoring: {index}/{len(todo)} {problem} / {engine} / seed {seed}: test {shown}"
                )
    finally:
        for scorer in scorers.values():
            scorer.close()
    return scored


def _cell(interval: Interval | None, best: float | None) -> str:
    if interval is None:
        return "–"
    text = interval.shown()
    return f"**{text}**" if best is not None and interval.value == best else text


def table(out: Path, problems: list[str], engines: list[str]) -> str:
    """The Markdown tables of the scored lines in ``out``."""
    scores = read_scores(out / SCORES_FILENAME)
    head = "| problem (seed program's test score) | " + " | ".join(engines) + " |"
    lines = [head, "|---|" + "---:|" * len(engines)]
    finals = [
        "| problem | "
        + " | ".join(f"{engine}: final choice / best program" for engine in CHOOSING_ENGINES)
        + " |",
        "|---|" + "---:|" * len(CHOOSING_ENGINES),
    ]
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (problem, engine): by seed
    for (problem, engine, _), entry in sorted(scores.items()):
        by_cell.setdefault((problem, engine), []).append(entry)
    means: dict[str, dict[str, float]] = {}
    for problem in problems:
        tests: dict[str, Interval | None] = {}
        searches: dict[str, Interval | None] = {}
        for engine in engines:
            mine = by_cell.get((problem, engine), [])
            values = [e["test_score"] for e in mine if e["test_score"] is not None]
            tests[engine] = mean_interval(values) if values and len(values) == len(mine) else None
            search = [e["search_score"] for e in mine if e["search_score"] is not None]
            searches[engine] = mean_interval(search) if search else None
        top = max((i.value for i in tests.values() if i is not None), default=None)
        seed = scores.get((problem, SEED_PROGRAM, 0), {}).get("test_score")
        shown_seed = "–" if seed is None else f"{seed:.4f}"
        cells = [
            _cell(tests[engine], top)
            + ("" if searches[engine] is None else f" (search {searches[engine].value:.4f})")
            for engine in engines
        ]
        lines.append(f"| {problem} ({shown_seed}) | " + " | ".join(cells) + " |")
        own: list[str] = []
        for engine in CHOOSING_ENGINES:
            mine = by_cell.get((problem, engine), [])
            chosen = [e.get("final_test_score") for e in mine]
            if mine and all(value is not None for value in chosen):
                final = mean_interval([float(value) for value in chosen if value is not None])
                best = tests.get(engine)
                own.append(f"{final.shown()} / {'–' if best is None else f'{best.value:.4f}'}")
            else:
                own.append("–")
        finals.append(f"| {problem} | " + " | ".join(own) + " |")
        means[problem] = {e: i.value for e, i in tests.items() if i is not None}
    return "\n".join(lines) + "\n\n" + _standing(means) + "\n\n" + "\n".join(finals) + "\n"


def _names(problems: list[str]) -> str:
    return f"{len(problems)} ({', '.join(problems)})" if problems else "0"


def _standing(means: dict[str, dict[str, float]]) -> str:
    """Where symbolic evoforge's mean test score stands, problem by problem, against the
    better seed-only baseline and each rival engine (one line each)."""
    lines: list[str] = []
    measured = [p for p, row in means.items() if ENGINE_EVOFORGE in row]
    baselines = [p for p in measured if {"random-search", "best-of-n"} <= set(means[p])]
    below = [
        p
        for p in baselines
        if means[p][ENGINE_EVOFORGE] < max(means[p]["random-search"], means[p]["best-of-n"])
    ]
    lines.append(
        f"On test instances, symbolic evoforge over the {len(measured)} problems: at or above "
        f"the better seed-only baseline on {len(baselines) - len(below)}, below on {_names(below)}."
    )
    for rival in ("openevolve", "shinkaevolve", ENGINE_EVOFORGE_ORACLE):
        pairs = [p for p in measured if rival in means[p]]
        ahead = [p for p in pairs if means[p][ENGINE_EVOFORGE] > means[p][rival]]
        behind = [p for p in pairs if means[p][ENGINE_EVOFORGE] < means[p][rival]]
        lines.append(f"Against {rival}: ahead on {_names(ahead)}, behind on {_names(behind)}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--problems", nargs="+", choices=SPLIT_PROBLEMS, default=SPLIT_PROBLEMS)
    parser.add_argument("--sources", nargs="+", type=Path, default=list(DEFAULT_SOURCES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of what is scored; score nothing"
    )
    args = parser.parse_args(argv)
    problems = [p for p in SUITE if p in args.problems]
    engines = list(DEFAULT_ENGINES)
    if not args.table_only:
        missing = [str(s) for s in args.sources if not s.is_dir()]
        if missing:
            print(f"test_scores: no such directory: {', '.join(missing)}", file=sys.stderr)
            return 2
        score_runs(args.out, problems, args.sources, engines, args.seeds)
    elif not (args.out / SCORES_FILENAME).is_file():
        print(f"test_scores: nothing scored in {args.out}", file=sys.stderr)
        return 2
    print(table(args.out, problems, engines), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
