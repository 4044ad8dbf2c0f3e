"""parent_sources.py reads a real run's database: shares, running totals, clear errors."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from parent_sources import main, summarise

import evoforge

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "circle_packing"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sources") / "run"
    evoforge.run(EXAMPLE, iterations=12, seed=2, workers=1, out=out, fresh=True)
    return out


def test_windows_add_up_to_the_run(run_dir: Path) -> None:
    figures = summarise(run_dir / "run.sqlite", window=5)
    conn = sqlite3.connect(run_dir / "run.sqlite")
    try:
        stored = conn.execute(
            "SELECT parent_source, COUNT(*) FROM programs WHERE iteration > 0 "
            "GROUP BY parent_source"
        ).fetchall()
    finally:
        conn.close()
    children = sum(count for _, count in stored)
    assert figures["children"] == children >= 12
    assert [w["iterations"][0] for w in figures["windows"]] == list(range(1, children + 1, 5))
    for window in figures["windows"]:
        assert sum(window["source_shares"].values()) == pytest.approx(1.0, abs=0.01)
        assert 0.0 <= window["gained_share"] <= 1.0
    totals = figures["windows"][-1]["sources_so_far"]
    assert {name: entry["pulls"] for name, entry in totals.items()} == {
        source or "": count for source, count in stored
    }
    assert sum(figures["operators"].values()) == children


def test_a_missing_run_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
