"""The suite's current table: rows from the first directory that has a problem whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoforge.bench.current import changes_since, current_rows, current_table, standing
from evoforge.bench.records import RUNS_FILENAME, RunRecord, append_records

ENGINES = ("evoforge", "openevolve", "random-search", "best-of-n")


def _runs(
    directory: Path, problem: str, scores: dict[str, float], seeds: int, revision: str
) -> None:
    append_records(
        directory / RUNS_FILENAME,
        [
            RunRecord(
                problem=problem,
                engine=engine,
                seed=seed,
                budget=500,
                status="ok",
                best_score=score + 0.001 * seed,
                initial_score=0.1,
                revision=revision,
            )
            for engine, score in scores.items()
            for seed in range(seeds)
        ],
    )


def test_each_problem_comes_from_the_first_directory_that_has_it_whole(tmp_path: Path) -> None:
    newer, older = tmp_path / "newer", tmp_path / "older"
    every = dict.fromkeys(ENGINES, 0.5)
    _runs(newer, "a", {**every, "evoforge": 0.9}, seeds=3, revision="1111111aaaa")
    _runs(newer, "b", {**every, "evoforge": 0.9}, seeds=2, revision="1111111aaaa")  # 2 of 3
    _runs(older, "a", every, seeds=3, revision="2222222bbbb")
    _runs(older, "b", {**every, "evoforge": 0.4}, seeds=3, revision="2222222bbbb")
    rows = current_rows([newer, older], ["a", "b", "c"], ENGINES, seeds=3, budget=500)
    assert [(r.problem, r.source) for r in rows] == [("a", "newer"), ("b", "older"), ("c", None)]
    assert rows[0].revisions == ("1111111",)
    assert rows[0].median("evoforge") == 0.901
    assert rows[1].median("evoforge") == 0.401  # never the newer directory's partial runs
    table = current_table(rows, ENGINES)
    assert "| a (0.1000) | **0.9010** (0.9000–0.9020) | 0.5010 (0.5000–0.5020) |" in table
    assert table.rstrip().endswith("| c | – | – | – | – | none |")
    mine = standing(rows)
    assert mine.measured == 2
    assert mine.at_least_seed_only == ("a",) and mine.below_seed_only == ("b",)
    assert mine.ahead_of_rival == ("a",) and mine.behind_rival == ("b",)


def test_an_engine_re_run_alone_takes_its_cell_from_the_newer_directory(tmp_path: Path) -> None:
    rerun, suite = tmp_path / "rerun", tmp_path / "suite"
    _runs(rerun, "a", {"evoforge": 0.9}, seeds=3, revision="4444444dddd")
    _runs(rerun, "b", {"evoforge": 0.9}, seeds=2, revision="4444444dddd")  # 2 of 3
    for problem in ("a", "b"):
        _runs(suite, problem, {**dict.fromkeys(ENGINES, 0.5), "evoforge": 0.4}, 3, "5555555eeee")
    _runs(suite, "c", dict.fromkeys(ENGINES[:-1], 0.5), seeds=3, revision="5555555eeee")
    rows = current_rows([rerun, suite], ["a", "b", "c"], ENGINES, seeds=3, budget=500)
    a, b, c = rows
    assert a.source == "rerun" and a.revisions == ("4444444", "5555555")
    assert [(s.directory, s.engines) for s in a.sources] == [
        ("rerun", ("evoforge",)),
        ("suite", ("openevolve", "random-search", "best-of-n")),
    ]
    assert a.median("evoforge") == 0.901 and a.median("openevolve") == 0.501
    assert b.source == "suite" and len(b.sources) == 1 and b.median("evoforge") == 0.401
    assert c.source is None and c.stats == ()  # best-of-n finished nowhere
    table = current_table(rows, ENGINES)
    assert (
        "| rerun (4444444): evoforge; suite (5555555): openevolve, random-search, best-of-n |"
        in table
    )
    assert "| suite (5555555) |" in table


def test_a_tie_is_a_tie_and_counts_as_level_with_the_baselines(tmp_path: Path) -> None:
    _runs(tmp_path / "only", "a", dict.fromkeys(ENGINES, 0.7), seeds=2, revision="3333333")
    rows = current_rows([tmp_path / "only"], ["a"], ENGINES, seeds=2, budget=500)
    mine = standing(rows)
    assert mine.tied_with_rival == ("a",) and mine.ahead_of_rival == ()
    assert mine.at_least_seed_only == ("a",)
    # another budget, or a directory without records, has nothing for the problem
    assert current_rows([tmp_path / "only"], ["a"], ENGINES, seeds=2, budget=100)[0].source is None
    assert current_rows([tmp_path / "none"], ["a"], ENGINES, seeds=2, budget=500)[0].source is None


def test_a_problem_measured_over_more_seeds_needs_them_all_and_says_so(tmp_path: Path) -> None:
    more, suite = tmp_path / "more", tmp_path / "suite"
    every = dict.fromkeys(ENGINES, 0.5)
    _runs(more, "a", {**every, "evoforge": 0.9}, seeds=6, revision="6666666ffff")
    _runs(more, "b", {**every, "evoforge": 0.9}, seeds=6, revision="6666666ffff")
    for problem in ("a", "b"):
        _runs(suite, problem, {**every, "evoforge": 0.4}, seeds=3, revision="7777777aaaa")
    # b's six seeds count only where asked; a's row needs seeds 0..5 of every engine
    rows = current_rows(
        [more, suite], ["a", "b"], ENGINES, seeds=3, budget=500, problem_seeds={"a": 6}
    )
    a, b = rows
    assert a.seeds == 6 and a.source == "more"
    assert a.median("evoforge") == pytest.approx(0.9025)
    assert b.seeds == 3 and b.source == "more" and b.median("evoforge") == 0.901
    table = current_table(rows, ENGINES, seeds=3)
    assert "| a (0.1000; 6 seeds) | **0.9025**" in table
    assert "| b (0.1000) | **0.9010**" in table
    # an engine short of the extra seeds everywhere leaves the row unmeasured
    _runs(tmp_path / "short", "a", every, seeds=5, revision="8888888")
    rows = current_rows(
        [tmp_path / "short"], ["a"], ENGINES, seeds=3, budget=500, problem_seeds={"a": 6}
    )
    assert rows[0].source is None and rows[0].seeds == 6


def test_changes_since_flags_a_fall_by_more_than_the_earlier_iqr(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    # earlier rows: seeds score base + 0.001 * seed, so median base + 0.002, IQR 0.002 wide
    _runs(old, "a", {"evoforge": 0.5}, seeds=5, revision="1111111")
    _runs(old, "b", {"evoforge": 0.5}, seeds=5, revision="1111111")
    _runs(new, "a", {"evoforge": 0.4990}, seeds=5, revision="2222222")  # 0.001 lower
    _runs(new, "b", {"evoforge": 0.4970}, seeds=5, revision="2222222")  # 0.003 lower
    _runs(new, "c", {"evoforge": 0.1}, seeds=5, revision="2222222")  # nothing earlier
    earlier = current_rows([old], ["a", "b", "c"], ["evoforge"], seeds=5, budget=500)
    rows = current_rows([new], ["a", "b", "c"], ["evoforge"], seeds=5, budget=500)
    a, b = changes_since(rows, earlier)
    assert (a.problem, b.problem) == ("a", "b")
    assert a.earlier_source == "old" and a.iqr == pytest.approx(0.002)
    assert a.median - a.earlier_median == pytest.approx(-0.001)
    assert not a.fell_beyond_iqr
    assert b.fell_beyond_iqr
