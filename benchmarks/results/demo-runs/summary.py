"""The demo's measured range: every fresh-clone `make demo` run in runs.jsonl, summarised.

    python benchmarks/results/demo-runs/summary.py

Prints the number of runs, the lowest and highest best score and their median, as the
README's demo table gives them (five decimals).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RUNS = Path(__file__).with_name("runs.jsonl")


def demo_runs(path: Path = RUNS) -> list[dict[str, object]]:
    """The recorded runs, one mapping per line of ``path``."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def demo_range(path: Path = RUNS) -> tuple[int, str, str, str]:
    """(runs, lowest best, highest best, median best), the scores as five-decimal text."""
    bests = [float(run["best"]) for run in demo_runs(path)]  # type: ignore[arg-type]
    return (
        len(bests),
        f"{min(bests):.5f}",
        f"{max(bests):.5f}",
        f"{statistics.median(bests):.5f}",
    )


def main() -> None:
    count, low, high, median = demo_range()
    print(f"{count} runs: best {low}-{high}, median {median}")


if __name__ == "__main__":
    main()
