"""``evoforge bench``: problems x engines x seeds under one evaluation budget.

:func:`~evoforge.bench.harness.run_bench` runs and records; :mod:`~evoforge.bench.report`
and :mod:`~evoforge.bench.plots` turn the records into a table, plots and a README.
"""

from __future__ import annotations

from evoforge.bench.engines import ENGINES
from evoforge.bench.harness import BenchError, BenchOptions, BenchResult, run_bench

__all__ = ["ENGINES", "BenchError", "BenchOptions", "BenchResult", "run_bench"]
