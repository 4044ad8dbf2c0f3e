"""Print the suite's current table from the measured result directories.

    .venv/bin/python benchmarks/suite_table.py [--sources DIR ...] [--seeds 5]
        [--problem-seeds cap_set_8=15 ...] [--evaluations 500] [--engines ENGINE ...]

For each of the 13 suite problems each engine's cell comes from the first directory in
``--sources`` that has that engine finished on every seed (default: ShinkaEvolve's
record on all 13 problems, cap_set_8 over 15 seeds, then symbolic evoforge's
15 cap_set_8 runs at ``9776965``, evoforge-oracle's at ``3324c43``, cap_set_8's 15-seed
record of all five engines, evoforge-oracle re-run at ``3324c43`` on all 13 problems,
the re-run of symbolic evoforge at ``9776965`` on the eight problems whose runs
``hoist``'s guard can change, optimizer_update_rule's re-run at ``a89d669``, the
latest re-run of symbolic evoforge on all 13 problems, the one before it, then the
re-run with main's engine, then the isolated re-run, then the first full suite): the
median best score over seeds with its 95 % bootstrap interval, bold the best, and the
directories and revisions the row was measured at. cap_set_8 is measured over 15 seeds
for every engine (``--problem-seeds``): its scores are a few discrete levels, and five
seeds read which seeds were drawn. Below the table: where symbolic
evoforge stands against the better seed-only baseline and against OpenEvolve, and
(``--against``) symbolic evoforge's medians against its own earlier rows: by default,
the first of the isolated re-run and the first full suite that has the problem whole
(the rows the suite's goals were set against; the isolated re-run for the five problems
whose evaluators changed with the isolated form), flagging each median that fell by
more than that row's IQR.
The README's benchmark table is this script's output. ``--engines`` picks the columns
(default: the six of the README's table, every engine ``evoforge bench`` knows); with
``shinkaevolve`` among them the summary also sets symbolic evoforge against ShinkaEvolve.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evoforge.bench.current import (
    RowChange,
    changes_since,
    current_rows,
    current_table,
    standing,
)
from evoforge.bench.engines import DEFAULT_ENGINES, ENGINE_SHINKA, ENGINES

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SOURCES = (
    RESULTS / "suite-shinkaevolve-54647d0-500",
    RESULTS / "suite-evoforge-9776965-cap-set-15",
    RESULTS / "suite-evoforge-oracle-3324c43-cap-set-15",
    RESULTS / "suite-cap-set-8-15-seeds",
    RESULTS / "suite-evoforge-oracle-3324c43-500",
    RESULTS / "suite-evoforge-9776965-500",
    RESULTS / "suite-evoforge-a89d669-500",
    RESULTS / "suite-evoforge-d6b0d1b-500",
    RESULTS / "suite-evoforge-64b5468-500",
    RESULTS / "suite-main-500",
    RESULTS / "suite-isolated-500",
    RESULTS / "suite-500",
)
EARLIER_ROWS = (RESULTS / "suite-isolated-500", RESULTS / "suite-500")
PROBLEM_SEEDS = {"cap_set_8": 15}
SUITE = (
    "min_max_distance_16",
    "autocorrelation_1",
    "heilbronn_triangle_11",
    "circle_packing_26",
    "circle_packing_32",
    "erdos_min_overlap",
    "cap_set_8",
    "exp2_approximation",
    "data_selection",
    "optimizer_update_rule",
    "sor_relaxation",
    "cache_eviction",
    "bin_packing",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", nargs="+", type=Path, default=list(DEFAULT_SOURCES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--problem-seeds",
        nargs="*",
        default=[f"{name}={count}" for name, count in PROBLEM_SEEDS.items()],
        metavar="PROBLEM=N",
        help="problems measured over N seeds instead of --seeds (default: cap_set_8=15)",
    )
    parser.add_argument("--evaluations", type=int, default=500)
    parser.add_argument(
        "--engines", nargs="+", choices=ENGINES, default=list(DEFAULT_ENGINES), metavar="ENGINE"
    )
    parser.add_argument(
        "--against",
        nargs="*",
        type=Path,
        default=list(EARLIER_ROWS),
        metavar="DIR",
        help="earlier records to set symbolic evoforge's medians against (none: skip)",
    )
    args = parser.parse_args(argv)
    problem_seeds: dict[str, int] = {}
    for item in args.problem_seeds:
        name, _, count = item.partition("=")
        if name not in SUITE or not count.isdigit() or int(count) < 1:
            print(f"suite_table: --problem-seeds wants PROBLEM=N, got {item!r}", file=sys.stderr)
            return 2
        problem_seeds[name] = int(count)
    missing = [str(s) for s in [*args.sources, *args.against] if not s.is_dir()]
    if missing:
        print(f"suite_table: no such directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    engines = list(dict.fromkeys(args.engines))
    rows = current_rows(
        args.sources,
        SUITE,
        engines,
        seeds=args.seeds,
        budget=args.evaluations,
        problem_seeds=problem_seeds,
    )
    print(current_table(rows, engines, seeds=args.seeds))
    mine = standing(rows)
    print(
        f"Symbolic evoforge, over the {mine.measured} problems measured: at or above the "
        f"better seed-only baseline on {len(mine.at_least_seed_only)} "
        f"(below on: {', '.join(mine.below_seed_only) or 'none'}); ahead of OpenEvolve on "
        f"{len(mine.ahead_of_rival)}, tied on {len(mine.tied_with_rival)} "
        f"({', '.join(mine.tied_with_rival) or 'none'}), behind on "
        f"{len(mine.behind_rival)} ({', '.join(mine.behind_rival) or 'none'})."
    )
    if ENGINE_SHINKA in engines and "evoforge" in engines:
        against = standing(rows, rival=ENGINE_SHINKA)
        print(
            f"Against ShinkaEvolve, over the {against.measured} problems measured: ahead on "
            f"{len(against.ahead_of_rival)} ({', '.join(against.ahead_of_rival) or 'none'}), "
            f"tied on {len(against.tied_with_rival)} "
            f"({', '.join(against.tied_with_rival) or 'none'}), behind on "
            f"{len(against.behind_rival)} ({', '.join(against.behind_rival) or 'none'})."
        )
    if args.against:
        earlier = current_rows(args.against, SUITE, ["evoforge"], seeds=5, budget=args.evaluations)
        print()
        print(_changes_table(changes_since(rows, earlier)))
    return 0


def _changes_table(changes: list[RowChange]) -> str:
    lines = [
        "| problem | earlier row | its median (IQR) | now | change | fell by more than its IQR |",
        "|---|---|---:|---:|---:|---|",
    ]
    for change in changes:
        lines.append(
            f"| {change.problem} | {change.earlier_source} | {change.earlier_median:.4f} "
            f"({change.earlier_q25:.4f}-{change.earlier_q75:.4f}) | {change.median:.4f} | "
            f"{change.median - change.earlier_median:+.4f} | "
            f"{'**yes**' if change.fell_beyond_iqr else 'no'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
