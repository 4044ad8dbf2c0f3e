"""The throughput benchmark's evoforge half: a real short run through the oracle, with
its CPU per iteration over the whole run and over the steady part after a chosen
iteration."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")


def test_the_steady_figures_cover_only_the_iterations_after_the_chosen_one(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, BENCHMARKS)
    try:
        import throughput
    finally:
        sys.path.remove(BENCHMARKS)
    try:
        problem = throughput.write_problem(tmp_path / "problem")
        oracle = throughput.Oracle("thread", 0, tmp_path / "oracle.log")
        try:
            times, cpu = throughput.run_evoforge(
                problem, tmp_path / "run", oracle, 8, 1, 0, request_process=False, steady_from=5
            )
            _, whole_only = throughput.run_evoforge(
                problem, tmp_path / "run-2", oracle, 3, 1, 0, request_process=False
            )
        finally:
            oracle.close()
    finally:
        for name in ("throughput", "soak", "process_cpu"):
            sys.modules.pop(name, None)
    assert len(times) == 8
    steady = cpu["steady"]
    assert (steady["from_iteration"], steady["iterations"]) == (6, 3)
    # the start-up (configuration, preflight, the seed's evaluation, the pool's start) is
    # in the whole run's figures alone, so the steady part's CPU is strictly less (a
    # steady part measured from the start would equal the whole)
    assert steady["driver_loop"] * 3 < cpu["driver_loop"] * 8
    assert steady["total"] > 0
    assert "steady" not in whole_only  # no steady part asked for
