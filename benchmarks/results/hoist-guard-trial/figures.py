"""Recompute the table of this directory's README from the committed records.

    .venv/bin/python benchmarks/results/hoist-guard-trial/figures.py

The same comparison as no-hoist-trial's (whose script this reuses): symbolic evoforge
with ``hoist`` kept from dropping the last read of any variable (this directory's
``runs.jsonl``, at ``eaa320c``) against main's runs of the same seeds
(suite-evoforge-d6b0d1b-500).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent
_SPEC = importlib.util.spec_from_file_location(
    "no_hoist_figures", HERE.parent / "no-hoist-trial" / "figures.py"
)
assert _SPEC is not None and _SPEC.loader is not None
_FIGURES = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_FIGURES)

if __name__ == "__main__":
    _FIGURES.main(HERE / "runs.jsonl", "guard on every variable")
