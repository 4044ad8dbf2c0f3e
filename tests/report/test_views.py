"""The viewers' data agree with the run database and with the engine's own view."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from evoforge.engine import Engine
from evoforge.report import views
from evoforge.report.archive_view import ArchiveReplay
from evoforge.report.html import report_data
from evoforge.report.reader import RunReader
from evoforge.report.summary import best_summary, status_summary
from evoforge.splits import FINAL_STATE, FinalChoice
from evoforge.storage.db import RunDatabase


@pytest.fixture
def reader(small_run: Path) -> RunReader:
    opened = RunReader(small_run)
    yield opened  # type: ignore[misc]
    opened.close()


@pytest.fixture(scope="module")
def summaries(small_run: Path) -> tuple[dict, dict]:
    db = RunDatabase(small_run / RunDatabase.FILENAME)
    try:
        return best_summary(db), status_summary(db)
    finally:
        db.close()


def test_overview_matches_the_status_summary(reader: RunReader, summaries: tuple) -> None:
    best, status = summaries
    data = views.overview(reader)
    assert data["best_score"] == best["score"]
    assert data["best_id"] == best["program_id"]
    assert data["initial_score"] == best["initial_score"]
    assert data["iterations"] == status["iterations"] == 40
    assert data["evaluations"] == status["evaluations"]
    assert data["failures"] == status["failures"]
    assert data["stop_reason"] == status["stop_reason"]
    assert data["budgets"]["iterations"] == {"used": 40, "limit": 40}
    assert data["duration_s"] == round(status["running_seconds"], 3) > 0
    assert status["invocations"] == 1
    curve = data["best_curve"]
    assert curve[-1][0] == status["evaluations"]
    assert curve[-1][2] == best["score"]
    scores = [point[2] for point in curve]
    assert scores == sorted(scores), "the best-so-far curve never goes down"
    assert set(data["island_curves"]) == {str(i["island"]) for i in status["islands"]}
    assert sum(r["count"] for r in data["reasons"]["failures"]) == sum(
        count for name, count in status["failures"].items() if name != "rejected"
    )


def test_lineage_of_the_best_matches_best_summary(reader: RunReader, summaries: tuple) -> None:
    best, _ = summaries
    chain = views.lineage(reader)
    assert chain is not None
    assert [node["id"] for node in chain["nodes"]] == best["lineage"]
    assert chain["nodes"][0]["gain"] is None
    for parent, child in zip(chain["nodes"], chain["nodes"][1:], strict=False):
        assert child["parent_id"] == parent["id"]
        if child["score"] is not None and parent["score"] is not None:
            assert child["gain"] == pytest.approx(child["score"] - parent["score"])
    assert views.lineage(reader, "no-such-program") is None


def test_a_lineage_is_one_query_however_deep(reader: RunReader, summaries: tuple) -> None:
    """A deep line (hundreds of ancestors in a long run) costs one query, not one a node."""
    best, _ = summaries
    assert len(best["lineage"]) >= 3
    queries: list[str] = []
    rows, one = reader.rows, reader.one

    def counted_rows(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        queries.append(sql)
        return rows(sql, params)

    def counted_one(sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        queries.append(sql)
        return one(sql, params)

    reader.rows = counted_rows  # type: ignore[method-assign]
    reader.one = counted_one  # type: ignore[method-assign]
    chain = views.lineage(reader, best["program_id"])
    assert chain is not None and [node["id"] for node in chain["nodes"]] == best["lineage"]
    assert len(queries) == 1


def test_a_loop_of_parents_ends_the_lineage(small_run: Path, tmp_path: Path) -> None:
    """A damaged or hostile database whose parents loop still gives a finite lineage."""
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    conn = sqlite3.connect(copy / RunDatabase.FILENAME)
    first, second = conn.execute("SELECT id FROM programs ORDER BY seq LIMIT 2").fetchall()
    conn.execute("UPDATE programs SET parent_id = ? WHERE id = ?", (second[0], first[0]))
    conn.execute("UPDATE programs SET parent_id = ? WHERE id = ?", (first[0], second[0]))
    conn.commit()
    conn.close()
    reader = RunReader(copy)
    try:
        chain = views.lineage(reader, second[0])
    finally:
        reader.close()
    assert chain is not None
    assert [node["id"] for node in chain["nodes"]] == [first[0], second[0]]  # seed first


def test_a_program_counter_counts_only_new_programs_and_agrees_with_a_full_count(
    small_run: Path, tmp_path: Path
) -> None:
    """Programs written after a counter's first answer are added to it: the same answer
    as counting the whole table again, and the next query reads only the rows past the
    last one it saw."""
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    reader = RunReader(copy)
    try:
        counter = views.ProgramCounter(reader)
        before = counter.counts()
        assert before == views.program_counts(reader)
        writer = sqlite3.connect(copy / RunDatabase.FILENAME)
        columns = [row[1] for row in writer.execute("PRAGMA table_info(programs)")]
        last = writer.execute("SELECT * FROM programs ORDER BY seq DESC LIMIT 1").fetchone()
        template = dict(zip(columns, last, strict=True))
        for offset, (status, operator, score) in enumerate(
            [("ok", last[columns.index("operator")], 0.5), ("failed", "brand-new", None)],
            start=1,
        ):
            row = {
                **template,
                "seq": template["seq"] + offset,
                "id": f"new{offset}",
                "status": status,
                "operator": operator,
                "score": score,
            }
            marks = ", ".join("?" for _ in columns)
            writer.execute(f"INSERT INTO programs VALUES ({marks})", [row[c] for c in columns])
        writer.commit()
        writer.close()
        after = counter.counts()
        assert after == views.program_counts(reader)
        assert after["total"] == before["total"] + 2
        assert {"status": "failed", "operator": "brand-new", "programs": 1, "scored": 0} in (
            after["counts"]
        )
    finally:
        reader.close()


def test_program_has_a_diff_against_its_parent(reader: RunReader, summaries: tuple) -> None:
    best, _ = summaries
    data = views.program(reader, best["program_id"])
    assert data is not None
    assert data["code"] == best["code"]
    assert data["parent_id"] == best["parent_id"]
    assert data["diff"].startswith(f"--- {best['parent_id']}\n+++ {best['program_id']}\n")
    assert any(line.startswith("+") for line in data["diff"].splitlines()[2:])
    seed = views.program(reader, "seed")
    assert seed is not None and seed["diff"] == "" and seed["parent_id"] is None
    assert views.program(reader, "nope") is None


def test_operators_match_status_and_probabilities_sum_to_one(
    reader: RunReader, summaries: tuple
) -> None:
    _, status = summaries
    data = views.operators(reader)
    for name, stats in status["operators"].items():
        assert data["operators"][name]["uses"] == stats["uses"]
        assert data["operators"][name]["successes"] == stats["successes"]
        assert data["operators"][name]["mean_reward"] == pytest.approx(stats["mean_reward"])
    assert set(data["probabilities"]) >= set(status["operators"])
    assert sum(data["probabilities"].values()) == pytest.approx(1.0)
    assert data["policy"] == "ucb1"


def test_models_view_of_a_run_without_models(reader: RunReader) -> None:
    assert views.models(reader) == {"models": {}, "calls": 0}


def test_archive_replay_matches_the_engine(small_run: Path, reader: RunReader) -> None:
    islands = ArchiveReplay(reader).islands()
    engine = Engine.open(small_run)
    try:
        expected = engine.archive.summary()
        cells = {
            island: {
                tuple(cell): program.id for cell, program in engine.archive.grid(island).entries()
            }
            for island in range(engine.archive.num_islands)
        }
    finally:
        engine.close()
    assert [i["occupied"] for i in islands] == [row["cells"] for row in expected]
    assert [i["best_id"] for i in islands] == [row["best_id"] for row in expected]
    for island in islands:
        assert {tuple(c["cell"]): c["program_id"] for c in island["cells"]} == cells[
            island["island"]
        ]
        assert island["features"] == ["complexity", "min_radius"]
        assert island["shape"] == [8, 8]


def test_programs_list_is_newest_first(reader: RunReader) -> None:
    rows = views.programs(reader, limit=5)
    newest = reader.rows("SELECT id FROM programs ORDER BY seq DESC LIMIT 5")
    assert [row["id"] for row in rows] == [r[0] for r in newest]
    assert max(row["iteration"] for row in rows) == 40
    rejected = views.programs(reader, status="rejected", limit=500)
    assert all(row["status"] == "rejected" for row in rejected)


def test_the_report_holds_the_final_choice_it_links(small_run: Path, tmp_path: Path) -> None:
    """The overview links the final choice of a run with splits: the report carries that
    program's page even when nothing else would have brought it in."""
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    with RunReader(copy) as reader:
        left_out = [
            program_id
            for (program_id,) in reader.rows("SELECT id FROM programs ORDER BY seq")
            if f"/api/runs/0/programs/{program_id}" not in report_data(reader)
        ]
    assert left_out, "every program is in the report anyway: nothing to show"
    db = RunDatabase(copy / RunDatabase.FILENAME)
    try:
        chosen = db.program(left_out[0])
        assert chosen is not None and chosen.score is not None
        final = FinalChoice(
            program_id=chosen.id,
            search_score=chosen.score,
            holdout_estimate=chosen.score,
            holdout_source="search",
            test_score=chosen.score,
            test_status="ok",
            test_reason="",
            gap=0.0,
            best_search_program_id=chosen.id,
            candidates=1,
            queries=1,
            budget=4,
            budget_left=4,
            holdout_spent=False,
            test_evaluations=1,
        )
        db.set_state({FINAL_STATE: final.to_dict()})
    finally:
        db.close()
    with RunReader(copy) as reader:
        data = report_data(reader)
    assert data["/api/runs/0/overview"]["final_choice"] == {**final.to_dict(), "outdated": False}
    assert data[f"/api/runs/0/programs/{chosen.id}"]["code"] == chosen.code
