"""The README's benchmark tables are what ``benchmarks/suite_table.py`` makes of the
committed records: a figure there without its record, or a record that no longer gives
it, fails here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = str(ROOT / "benchmarks")


def test_the_readme_shows_the_tables_the_records_give(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, BENCHMARKS)
    try:
        from suite_table import main
    finally:
        sys.path.remove(BENCHMARKS)
        sys.modules.pop("suite_table", None)
    assert main([]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    rows = [line for line in printed if line.startswith("| ")]
    assert len(rows) >= 13 + 13, "the current table and the one against earlier rows"
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    missing = [line for line in printed if line not in readme]
    assert not missing, "in the script's output but not in the README:\n" + "\n".join(missing)
