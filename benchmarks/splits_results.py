"""Write benchmarks/results/splits/ from an `evoforge bench` output directory.

    .venv/bin/python benchmarks/splits_results.py BENCH_OUT [--dest benchmarks/results/splits]

Reads ``BENCH_OUT/runs.jsonl`` (runs of problems with instance splits) and writes to
``--dest``: ``runs.jsonl`` (the harness's records, copied), ``splits.json`` (per run: the
final program's search score, its holdout score, Thresholdout's answer and where it came
from, its test score and the gap search - test, and the best search score of the run; per
problem: means over seeds with 95 % bootstrap intervals), ``results.md`` (the same as
tables) and ``splits.png`` (each seed's final program on the three splits). The split
sizes and the seed's scores per split come from ``split_sizes.json`` in ``--dest``
(written by ``benchmarks/split_scores.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from evoforge.bench.intervals import mean_interval
from evoforge.bench.records import RUNS_FILENAME, STATUS_OK, read_records

DEFAULT_DEST = Path(__file__).resolve().parent / "results" / "splits"
SPLIT_SIZES = "split_sizes.json"


def run_rows(records: list[Any]) -> list[dict[str, Any]]:
    """One row per finished run with a final choice, in problem then seed order."""
    rows = []
    for record in sorted(records, key=lambda r: (r.problem, r.seed)):
        final = record.extra.get("splits") if isinstance(record.extra, dict) else None
        if record.status != STATUS_OK or not isinstance(final, dict):
            continue
        rows.append(
            {
                "problem": record.problem,
                "seed": record.seed,
                "evaluations": record.evaluations,
                "wall_time_s": round(record.wall_time_s, 1),
                "revision": record.revision,
                "best_search_score": record.best_score,
                "seed_search_score": record.initial_score,
                "final_program": final["program_id"],
                "final_is_best_by_search": final["program_id"] == final["best_search_program_id"],
                "search": final["search_score"],
                "holdout": final.get("holdout_score"),
                "holdout_estimate": final["holdout_estimate"],
                "holdout_source": final["holdout_source"],
                "test": final["test_score"],
                "gap": final["gap"],
                "holdout_queries": final["queries"],
                "holdout_spent": final["holdout_spent"],
            }
        )
    return rows


def problem_summaries(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per problem: seeds, and mean with bootstrap interval of each score and the gap."""
    summaries: dict[str, dict[str, Any]] = {}
    for problem in sorted({row["problem"] for row in rows}):
        mine = [row for row in rows if row["problem"] == problem and row["test"] is not None]
        summary: dict[str, Any] = {"seeds": [row["seed"] for row in mine]}
        for key in ("best_search_score", "search", "holdout", "holdout_estimate", "test", "gap"):
            values = [row[key] for row in mine if row[key] is not None]
            if values:
                interval = mean_interval(values)
                summary[key] = {"mean": interval.value, "low": interval.low, "high": interval.high}
        summaries[problem] = summary
    return summaries


def _shown(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key)
    if value is None:
        return "–"
    if value["low"] is None:
        return f"{value['mean']:.4f}"
    return f"{value['mean']:.4f} [{value['low']:.4f}, {value['high']:.4f}]"


def markdown(rows: list[dict[str, Any]], summaries: dict[str, Any], sizes: dict[str, Any]) -> str:
    lines = ["## Split sizes and the seed program's score per split", ""]
    lines += ["| problem | split | holds | seed score |", "|---|---|---|---:|"]
    for problem, entry in sizes.items():
        for split, held in entry["sizes"].items():
            score = entry["seed_scores"][split]
            shown = "failed" if score is None else f"{score:.4f}"
            lines.append(f"| {problem} | {split} | {held} | {shown} |")
    lines += ["", "## The final program over seeds (mean, 95 % bootstrap interval)", ""]
    lines += [
        "| problem | seeds | best search score | final: search | holdout | holdout estimate "
        "(Thresholdout) | **test** | gap search − test |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for problem, summary in summaries.items():
        lines.append(
            f"| {problem} | {len(summary['seeds'])} | {_shown(summary, 'best_search_score')} "
            f"| {_shown(summary, 'search')} | {_shown(summary, 'holdout')} "
            f"| {_shown(summary, 'holdout_estimate')} | **{_shown(summary, 'test')}** "
            f"| {_shown(summary, 'gap')} |"
        )
    lines += ["", "## Every run", ""]
    lines += [
        "| problem | seed | evaluations | final program | search | holdout | estimate (source) "
        "| test | gap |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        holdout = "–" if row["holdout"] is None else f"{row['holdout']:.4f}"
        test = "–" if row["test"] is None else f"{row['test']:.4f}"
        gap = "–" if row["gap"] is None else f"{row['gap']:+.4f}"
        best = " (best by search)" if row["final_is_best_by_search"] else ""
        lines.append(
            f"| {row['problem']} | {row['seed']} | {row['evaluations']} "
            f"| {row['final_program']}{best} | {row['search']:.4f} | {holdout} "
            f"| {row['holdout_estimate']:.4f} ({row['holdout_source']}) | {test} | {gap} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per problem: each seed's final program on search, holdout and test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({row["problem"] for row in rows})
    if not problems:
        return
    figure, axes = plt.subplots(1, len(problems), figsize=(3.2 * len(problems), 3.4), squeeze=False)
    for axis, problem in zip(axes[0], problems, strict=True):
        for row in (r for r in rows if r["problem"] == problem):
            values = [row["search"], row["holdout"], row["test"]]
            if any(value is None for value in values):
                continue
            axis.plot([0, 1, 2], values, marker="o", alpha=0.7, label=f"seed {row['seed']}")
        axis.set_xticks([0, 1, 2], ["search", "holdout", "test"])
        axis.set_title(problem, fontsize=9)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("combined_score of the final program")
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("bench_out", type=Path)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    records = list(read_records(args.bench_out / RUNS_FILENAME).values())
    rows = run_rows(records)
    summaries = problem_summaries(rows)
    sizes_path = args.dest / SPLIT_SIZES
    sizes = json.loads(sizes_path.read_text(encoding="utf-8")) if sizes_path.is_file() else {}
    args.dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.bench_out / RUNS_FILENAME, args.dest / RUNS_FILENAME)
    document = {"runs": rows, "problems": summaries, "split_sizes": sizes}
    (args.dest / "splits.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (args.dest / "results.md").write_text(markdown(rows, summaries, sizes), encoding="utf-8")
    plot(rows, args.dest / "splits.png")
    print(markdown(rows, summaries, sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
