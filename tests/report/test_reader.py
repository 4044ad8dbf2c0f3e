"""RunReader: read-only, works beside a writer, refuses what is not a run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evoforge.program import EvalStatus, Program, code_hash
from evoforge.report.reader import RunReader
from evoforge.running_time import SPANS_STATE, span_ended, span_started
from evoforge.splits import FINAL_STATE
from evoforge.storage.db import DatabaseError, RunDatabase


def _child(seq: int) -> Program:
    code = f"x = {seq}\n"
    return Program(
        id=f"i{seq:06d}",
        code=code,
        code_hash=code_hash(code),
        seq=seq,
        iteration=seq,
        parent_id="seed" if seq > 1 else None,
        status=EvalStatus.OK,
        score=float(seq),
    )


def test_reader_cannot_write(small_run: Path) -> None:
    with RunReader(small_run) as reader:
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            reader.rows("DELETE FROM programs")
        assert reader.rows("SELECT COUNT(*) FROM programs")[0][0] == 41


def test_reader_sees_steps_a_writer_commits_while_it_is_open(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / RunDatabase.FILENAME, create=True)
    db.commit_step(_child(0), evaluated=True, outcome=None, reward=None)
    with RunReader(tmp_path) as reader:
        before = reader.version()
        db.commit_step(_child(1), evaluated=True, outcome=None, reward=0.5)
        after = reader.version()
        assert before["seq"] == 0
        assert after["seq"] == 1
        assert reader.one("SELECT score FROM programs WHERE id = 'i000001'") == (1.0,)
        db.close()


def test_the_version_changes_with_the_state_viewers_show(tmp_path: Path) -> None:
    """An invocation's start and end, and the final choice of a run with splits (stored
    after its last holdout query), change no step, event or model call, yet change what
    the viewers show: their cached answers must not outlive them."""
    db = RunDatabase(tmp_path / RunDatabase.FILENAME, create=True)
    db.commit_step(_child(0), evaluated=True, outcome=None, reward=None)
    with RunReader(tmp_path) as reader:
        seen = [reader.version()]
        db.set_state({SPANS_STATE: span_started(None, 100.0)})
        seen.append(reader.version())
        db.set_state({SPANS_STATE: span_ended(db.get_state(SPANS_STATE), 102.0)})
        seen.append(reader.version())
        db.set_state({FINAL_STATE: {"program_id": "i000000", "test_score": None}})
        seen.append(reader.version())
        db.set_state({FINAL_STATE: {"program_id": "i000000", "test_score": 0.5}})
        seen.append(reader.version())
        db.set_state({"bandit": {"step": 1}})  # state that changes only with a step
        seen.append(reader.version())
        db.close()
    assert len({repr(version) for version in seen[:5]}) == 5
    assert seen[5] == seen[4]


def test_missing_or_foreign_database_is_a_database_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="holds no run"):
        RunReader(tmp_path)
    conn = sqlite3.connect(tmp_path / RunDatabase.FILENAME)
    conn.execute("CREATE TABLE unrelated (x)")
    conn.close()
    with pytest.raises(DatabaseError, match="lacks tables"):
        RunReader(tmp_path)


def test_a_run_moved_to_a_path_too_long_for_sqlite_is_refused_saying_so(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    db = RunDatabase(tmp_path / "run" / RunDatabase.FILENAME, create=True)
    db.commit_step(_child(0), evaluated=True, outcome=None, reward=None)
    db.close()
    deep = tmp_path.joinpath(*["d" * 100] * 5)
    deep.mkdir(parents=True)
    (tmp_path / "run").rename(deep / "run")
    with pytest.raises(DatabaseError, match=r"bytes long, more than SQLite opens \(504\)"):
        RunReader(deep / "run")


def test_a_run_whose_directory_name_is_not_utf8_is_shown(small_run: Path, tmp_path: Path) -> None:
    """A directory named in another encoding: its name is shown with U+FFFD, never
    refused as text that does not encode (the report, the web view, the export)."""
    import json
    import os
    import shutil

    from evoforge.export import ExportOptions, export_runs
    from evoforge.report import views
    from evoforge.report.html import write_report

    run_dir = tmp_path / os.fsdecode(b"run-\xff")
    shutil.copytree(small_run, run_dir)
    with RunReader(run_dir) as reader:
        assert reader.label == "run-\ufffd"
        json.dumps(views.overview(reader)).encode("utf-8")
    write_report(run_dir, tmp_path / "report.html")
    export_runs([run_dir], tmp_path / "traces", ExportOptions(format="traces"))
    assert "run-\ufffd" in (tmp_path / "traces" / "train.jsonl").read_text(encoding="utf-8")
