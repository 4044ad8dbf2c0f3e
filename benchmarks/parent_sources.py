"""Where a finished run's parents came from, window by window: read from its database.

For each window of ``--window`` iterations it reports the share of children per parent
source, the share whose insert gained the archive a cell or an improvement, the mean
reward, and the children's mean length; then each source's pulls and mean reward so far
at every window's end (what a stationary bandit sees), the stagnation events, and what
each operator made. It reads the run database only (``soak.py --keep DIR`` keeps one)::

    python benchmarks/parent_sources.py RUN_DIR --window 2500 --json sources.json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

GAINS = ("new_cell", "improved")


def summarise(database: Path, window: int) -> dict[str, Any]:
    """The figures described in the module docstring, from the run database ``database``."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT iteration, parent_source, outcome_status, reward, length(code), operator, "
            "status FROM programs WHERE iteration > 0 ORDER BY seq"
        ).fetchall()
        events = Counter(kind for (kind,) in conn.execute("SELECT kind FROM events"))
    finally:
        conn.close()
    windows: list[dict[str, Any]] = []
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    operators: Counter[tuple[str, str]] = Counter()
    last = max((row[0] for row in rows), default=0)
    for start in range(1, last + 1, window):
        inside = [row for row in rows if start <= row[0] < start + window]
        if not inside:
            continue
        sources = Counter(row[1] or "" for row in inside)
        for _, source, _, reward, _, operator, status in inside:
            totals[source or ""][0] += 1
            totals[source or ""][1] += reward or 0.0
            operators[(operator, status)] += 1
        windows.append(
            {
                "iterations": [start, start + window - 1],
                "source_shares": {
                    name: round(count / len(inside), 3) for name, count in sources.most_common()
                },
                "gained_share": round(sum(row[2] in GAINS for row in inside) / len(inside), 3),
                "mean_reward": round(sum(row[3] or 0.0 for row in inside) / len(inside), 4),
                "mean_chars": round(sum(row[4] for row in inside) / len(inside), 1),
                "sources_so_far": {
                    name: {"pulls": int(pulls), "mean_reward": round(paid / pulls, 4)}
                    for name, (pulls, paid) in sorted(totals.items())
                },
            }
        )
    return {
        "database": str(database),
        "children": len(rows),
        "window": window,
        "events": dict(events.most_common()),
        "operators": {f"{op} {status}": count for (op, status), count in operators.most_common()},
        "windows": windows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--window", type=int, default=2500)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    database = args.run_dir / "run.sqlite"
    if not database.is_file():
        print(f"parent_sources: no run database at {database}", file=sys.stderr)
        return 2
    if args.window < 1:
        print("parent_sources: --window must be at least 1", file=sys.stderr)
        return 2
    figures = summarise(database, args.window)
    for entry in figures["windows"]:
        first, end = entry["iterations"]
        shares = ", ".join(f"{name} {share:.0%}" for name, share in entry["source_shares"].items())
        print(
            f"{first:>6}-{end:<6} gained {entry['gained_share']:.1%}  "
            f"reward {entry['mean_reward']:.3f}  chars {entry['mean_chars']:.0f}  {shares}"
        )
    print("events:", figures["events"])
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
