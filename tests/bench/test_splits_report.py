"""The bench's headline for problems with splits: test scores with bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoforge.bench.records import RunRecord
from evoforge.bench.report import write_report
from evoforge.bench.splits_report import split_stats, splits_table


def _record(seed: int, test: float | None, search: float = 0.8) -> RunRecord:
    splits = {
        "search_score": search,
        "holdout_estimate": search - 0.05,
        "test_score": test,
        "gap": None if test is None else search - test,
        "holdout_spent": seed == 0,
    }
    return RunRecord(
        problem="p",
        engine="evoforge",
        seed=seed,
        budget=10,
        status="ok",
        best_score=search,
        initial_score=0.1,
        extra={"splits": splits},
    )


def test_test_scores_over_seeds_are_the_headline() -> None:
    records = [_record(0, 0.60), _record(1, 0.70), _record(2, 0.65), _record(3, None)]
    rows = split_stats(records, ["p", "q"], ["evoforge"])
    assert len(rows) == 1
    row = rows[0]
    assert row.seeds == 3  # the run whose test evaluation failed is left out
    assert row.test.value == pytest.approx(0.65)
    assert row.gap.value == pytest.approx(0.15)
    assert row.holdout_spent == 1
    table = splits_table(rows)
    assert "**0.6500 [" in table and "budget spent in 1" in table
    assert splits_table([]) == ""
    assert split_stats([RunRecord("p", "evoforge", 0, 10, "ok", 0.5)], ["p"], ["evoforge"]) == []


def test_the_report_puts_the_test_scores_first(tmp_path: Path) -> None:
    out = tmp_path
    records = [_record(0, 0.60), _record(1, 0.70)]
    readme = write_report(
        out,
        records,
        problems=["p"],
        engines=["evoforge"],
        seeds=[0, 1],
        budget=10,
        command="evoforge bench",
        jobs=1,
        log=lambda _line: None,
    ).read_text()
    assert readme.index("## Test scores") < readme.index("## Summary")
    assert "**0.6500 [" in readme
