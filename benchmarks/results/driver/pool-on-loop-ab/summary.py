"""Print the table of this record from its JSON files: python summary.py"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent


def row(path: Path) -> tuple[float, ...]:
    run = json.loads(path.read_text())["results"]["evoforge"]
    steady = run["cpu_ms_per_iteration"]["steady"]
    driver = steady["driver_loop"] + steady["driver_other_threads"]
    return (
        run["load_before"],
        run["windows"]["1000"]["it_per_s"],
        steady["driver_loop"],
        steady["driver_other_threads"],
        driver,
        steady["proposal_pool"],
        steady["total"],
    )


def main() -> None:
    print(
        "| round | side | pair | load before | it/s, 500-1,000 | event loop | other threads"
        " | driver | proposal pool | total |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for round_name in ("a", "b"):
        medians: dict[str, list[float]] = {}
        for path in sorted(HERE.glob(f"ab_{round_name}_*.json")):
            _, _, side, pair = path.stem.split("_")
            values = row(path)
            medians.setdefault(side, []).append(values[4])
            cells = " | ".join(
                f"{value:.2f}" if i else f"{value:.1f}" for i, value in enumerate(values)
            )
            print(f"| {round_name} | {side} | {pair} | {cells} |")
        summary = ", ".join(
            f"{side} median {statistics.median(values):.2f}"
            for side, values in sorted(medians.items())
        )
        if summary:
            print(f"| {round_name} | driver CPU ms per iteration: {summary} | | | | | | | | |")


if __name__ == "__main__":
    main()
