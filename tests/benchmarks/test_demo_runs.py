"""The README's demo range is the one its record gives (benchmarks/results/demo-runs)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "benchmarks" / "results" / "demo-runs"


def summary_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_runs_summary", RECORD / "summary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_gives_the_demo_range_its_record_gives() -> None:
    count, low, high, median = summary_module().demo_range()
    readme = (ROOT / "README.md").read_text()
    row = re.search(r"\| best after `make demo` \(seed 0\) \| (.*) \|", readme)
    assert row is not None
    assert row.group(1) == f"**{low}-{high}** ({count} runs, median {median})"
    assert f"{low}-{high} (the demo's {count} runs above)" in readme


def test_every_recorded_run_names_its_revision_and_best_score() -> None:
    for run in summary_module().demo_runs():
        assert re.fullmatch(r"[0-9a-f]{7}", str(run["revision"]))
        assert 2.12154 < float(run["best"]) < 2.635983  # above the seed, below the record
