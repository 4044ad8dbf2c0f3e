"""The sandbox CPU benchmark finds its template and reads its usage: a handful of
evaluations through the real template path, each costing some CPU and page faults."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evoforge.evaluation.sandbox import filesystem_isolation

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")


@pytest.mark.skipif(filesystem_isolation() != "mountns", reason="template processes need the jail")
def test_a_few_evaluations_are_measured_on_the_template() -> None:
    sys.path.insert(0, BENCHMARKS)
    try:
        from sandbox_cpu import main, measure

        figures = measure(5)
        with pytest.raises(SystemExit) as refused:
            main(["--evaluations", "0"])
    finally:
        sys.path.remove(BENCHMARKS)
        sys.modules.pop("sandbox_cpu", None)
    assert refused.value.code == 2
    assert figures["evaluations"] == 5
    # every evaluation forks two processes from a numpy-loaded template: both fault in
    # hundreds of pages and take CPU time
    assert isinstance(figures["minor_faults_per_evaluation"], int)
    assert figures["minor_faults_per_evaluation"] > 100
    assert figures["cpu_ms_per_evaluation"] > 0
