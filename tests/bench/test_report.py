"""The bench report's wall-time accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoforge.bench.records import RunRecord
from evoforge.bench.report import busy_seconds, markdown_tables, summarise


def test_overlapping_runs_count_once() -> None:
    # Two jobs at once: [0, 10] and [5, 12] keep the machine busy for 12 s.
    assert busy_seconds([(0.0, 10.0), (5.0, 12.0)]) == pytest.approx(12.0)


def test_a_pause_between_sessions_is_not_counted() -> None:
    # A bench stopped at 20 s and resumed a day later.
    day = 86_400.0
    intervals = [(0.0, 10.0), (10.0, 20.0), (day, day + 30.0)]
    assert busy_seconds(intervals) == pytest.approx(50.0)


def test_nested_unordered_and_invalid_intervals() -> None:
    intervals = [(50.0, 60.0), (0.0, 100.0), (20.0, 30.0), (5.0, 1.0)]
    assert busy_seconds(intervals) == pytest.approx(100.0)


def test_no_runs_is_zero() -> None:
    assert busy_seconds([]) == 0.0


def _run(engine: str, seed: int, **fields: object) -> RunRecord:
    values: dict[str, object] = {
        "problem": "p",
        "engine": engine,
        "seed": seed,
        "budget": 10,
        "status": "ok",
        "best_score": 0.5,
        "initial_score": 0.1,
        "evaluations": 10,
    }
    values.update(fields)
    return RunRecord(**values)  # type: ignore[arg-type]


def test_failed_share_and_operator_counts_are_reported() -> None:
    operators = {
        "tune": {"evaluated": 6, "failed": 3, "improved": 1},
        "mutate": {"evaluated": 3, "failed": 1, "improved": 0},
    }
    records = [
        _run("evo", 0, failed_evaluations=4, extra={"operators": operators}),
        _run("evo", 1, failed_evaluations=0, extra={"operators": operators}),
        _run("old", 0),  # written before failures were counted
        _run("mixed", 0, failed_evaluations=5),
        _run("mixed", 1),
    ]
    summary = summarise(records, ["p"], ["evo", "old", "mixed"])
    evo, old, mixed = summary["p"]
    assert evo.failed_share == pytest.approx(4 / 20) and evo.failed_runs == 2
    assert evo.operators == (("tune", 12, 6, 2), ("mutate", 6, 2, 0))
    assert old.failed_share is None and old.operators == ()
    assert mixed.failed_share == pytest.approx(0.5) and mixed.failed_runs == 1
    table = markdown_tables(summary, 10)
    assert "| evo | **0.5000** | 0.5000–0.5000 | 0.5000–0.5000 | 2 | 10.0 | 20 % | 0.0 |" in table
    assert "| old | **0.5000** | – | 0.5000–0.5000 | 1 | 10.0 | – | 0.0 |" in table
    assert "| 50 % (1 run) |" in table
    assert (
        "evo operators, evaluations over all seeds: tune 12 (50 % failed, 17 % better than "
        "the parent), mutate 6 (33 % failed, 0 % better than the parent)." in table
    )


def test_runs_cut_short_by_the_wall_time_cap_are_named(tmp_path: Path) -> None:
    """A run stopped by ``--max-run-seconds`` counts as finished but spent fewer
    evaluations than the budget: the report says which, so no figure passes for a full
    budget's."""
    from evoforge.bench.report import write_report

    records = [
        _run("evo", 0, evaluations=10, stop_reason="evaluations budget reached"),
        _run("evo", 1, evaluations=4, stop_reason="wall-time budget reached"),
    ]
    readme = write_report(
        tmp_path,
        records,
        problems=["p"],
        engines=["evo"],
        seeds=[0, 1],
        budget=10,
        command="evoforge bench (test)",
        jobs=1,
        log=lambda line: None,
    ).read_text()
    assert "Cut short by the wall-time cap (`--max-run-seconds`): 1 of the finished runs" in readme
    assert "p / evo / seed 1 (4)" in readme


def test_the_plot_link_of_a_problem_named_with_spaces_works(tmp_path: Path) -> None:
    """A user's problem directory 'my problem (v2)': its plot link must not break."""
    pytest.importorskip("matplotlib")
    from evoforge.bench.report import write_report

    name = "my problem (v2)"
    record = _run("evo", 0, problem=name, trajectory=[0.1, 0.5])
    readme = write_report(
        tmp_path,
        [record],
        problems=[name],
        engines=["evo"],
        seeds=[0],
        budget=10,
        command="evoforge bench (test)",
        jobs=1,
        log=lambda line: None,
    ).read_text()
    assert "![my problem (v2)](plots/my%20problem%20%28v2%29.png)" in readme
    assert (tmp_path / "plots" / "my problem (v2).png").is_file()
