"""Did a bench output repeat the recorded runs? Best-so-far trajectories compared.

    python benchmarks/results/scale/proposal-cpu-ab2/same_runs.py OUT [RECORD ...]

``OUT``: an ``evoforge bench`` output (symbolic evoforge), or a ``runs.jsonl``-style file
such as ``same-runs-b1908b1.jsonl`` here; ``RECORD``: result
directories to compare against, the first that has a (problem, seed) wins (default:
suite-evoforge-a89d669-500, then suite-evoforge-d6b0d1b-500).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2]
DEFAULT = (RESULTS / "suite-evoforge-a89d669-500", RESULTS / "suite-evoforge-d6b0d1b-500")


def _runs(directory: Path) -> dict[tuple[str, int], dict[str, object]]:
    found: dict[tuple[str, int], dict[str, object]] = {}
    path = directory if directory.is_file() else directory / "runs.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["engine"] == "evoforge" and row["status"] == "ok":
            found[(row["problem"], row["seed"])] = row
    return found


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    records: dict[tuple[str, int], dict[str, object]] = {}
    for directory in [Path(a) for a in argv[1:]] or list(DEFAULT):
        for key, row in _runs(directory).items():
            records.setdefault(key, row)
    for key, row in sorted(_runs(out).items()):
        recorded = records.get(key)
        verdict = (
            "no record"
            if recorded is None
            else ("same run" if recorded["trajectory"] == row["trajectory"] else "differs")
        )
        print(f"{key[0]} seed {key[1]}: best {row['best_score']}: {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
