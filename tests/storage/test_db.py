"""The run database: atomic steps, round trips, corruption is a clear error."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import pytest

from evoforge.program import EvalStatus, InsertOutcome, InsertStatus, Program, code_hash
from evoforge.storage.db import CHECKPOINT_EVERY, DatabaseError, EncodedJSON, RunDatabase


def _program(seq: int, score: float | None = 1.0, **kw: object) -> Program:
    code = f"x = {seq}\n"
    return Program(
        id=f"p{seq}",
        code=code,
        code_hash=code_hash(code),
        seq=seq,
        iteration=seq,
        parent_id=None if seq == 0 else "p0",
        score=score,
        metrics={"combined_score": score if score is not None else 0.0},
        **kw,  # type: ignore[arg-type]
    )


def test_steps_round_trip(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "run.sqlite", create=True)
    outcome = InsertOutcome(InsertStatus.NEW_CELL, 1.0, (2, 3), 0)
    db.commit_step(
        _program(0, features={"complexity": 3.0}, artifacts={"stderr": "hi"}),
        evaluated=True,
        outcome=outcome,
        reward=None,
        events=[("new_best", {"program_id": "p0"})],
        state={"bandit": {"counts": [1, 2]}},
    )
    db.commit_step(
        _program(1, score=None, status=EvalStatus.FAILED, reason="boom"),
        evaluated=True,
        outcome=None,
        reward=0.0,
    )
    db.close()
    again = RunDatabase(tmp_path / "run.sqlite")
    steps = list(again.steps())
    assert [s.program.id for s in steps] == ["p0", "p1"]
    assert steps[0].outcome == outcome
    assert steps[0].program.features == {"complexity": 3.0}
    assert steps[0].program.artifacts == {"stderr": "hi"}
    assert steps[1].program.status is EvalStatus.FAILED
    assert again.get_state("bandit") == {"counts": [1, 2]}
    assert again.events("new_best")[0].payload == {"program_id": "p0"}
    assert again.best_program() is not None and again.best_program().id == "p0"  # type: ignore[union-attr]
    assert again.has_hash(code_hash("x = 1\n"))
    assert again.status_counts() == {"ok": 1, "failed": 1}


def test_a_failed_step_writes_nothing(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "run.sqlite", create=True)
    db.commit_step(_program(0), evaluated=True, outcome=None, reward=None)
    with pytest.raises(sqlite3.IntegrityError):
        # same seq twice violates the primary key: the whole step must roll back
        db.commit_step(
            _program(0), evaluated=True, outcome=None, reward=None, state={"bandit": {"x": 1}}
        )
    assert db.count_programs() == 1
    assert db.get_state("bandit") is None


def test_non_finite_scores_are_stored_as_null(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "run.sqlite", create=True)
    db.commit_step(_program(0, score=math.nan), evaluated=True, outcome=None, reward=None)
    assert next(db.steps()).program.score is None


def test_missing_and_corrupt_databases(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no run database"):
        RunDatabase(tmp_path / "absent.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError, match="unreadable or corrupt"):
        RunDatabase(garbage)
    good = tmp_path / "good.sqlite"
    db = RunDatabase(good, create=True)
    for seq in range(50):
        db.commit_step(_program(seq), evaluated=True, outcome=None, reward=None)
    db._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = good.stat().st_size
    with good.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(DatabaseError):
        reopened = RunDatabase(good)
        list(reopened.steps())


def test_a_version_2_database_gains_the_typed_columns_filled_from_its_reasons(
    tmp_path: Path,
) -> None:
    import sqlite3

    from evoforge.kinds import RejectionKind
    from evoforge.storage import db as db_module

    path = tmp_path / "old.sqlite"
    old_schema = db_module._SCHEMA.replace("    rejection TEXT,\n", "").replace(
        "    params TEXT NOT NULL DEFAULT '{}',\n", ""
    )
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '2')")
    rows = [
        (1, "tune", "failed", "tune: 1 literal, gauss, step 3.0e-05\nValueError: x", 1),
        (2, "mutate", "rejected", "duplicate of a program already evaluated", 0),
        (3, "llm_diff", "rejected", "near duplicate of i000001 (estimated similarity 0.99)", 0),
        (4, "crossover", "rejected", "crossover produced no change", 0),
    ]
    for seq, operator, status, reason, evaluated in rows:
        conn.execute(
            "INSERT INTO programs(seq, id, iteration, code, code_hash, inspiration_ids, "
            "operator, island, generation, status, reason, metrics, features, artifacts, "
            "eval_time_s, created_at, evaluated) "
            "VALUES (?, ?, ?, 'x = 1', ?, '[]', ?, 0, 1, ?, ?, '{}', '{}', '{}', 0, 0, ?)",
            (seq, f"i{seq:06d}", seq, f"h{seq}", operator, status, reason, evaluated),
        )
    conn.commit()
    conn.close()
    db = RunDatabase(path)
    try:
        assert db.get_meta("schema_version") == str(db_module.SCHEMA_VERSION)
        programs = {step.program.id: step.program for step in db.steps()}
        assert programs["i000001"].params == {"step": 3.0e-05}
        assert programs["i000001"].rejection is None
        assert programs["i000002"].rejection is RejectionKind.DUPLICATE
        assert programs["i000003"].rejection is RejectionKind.NEAR_DUPLICATE
        assert programs["i000004"].rejection is RejectionKind.NO_CHANGE
        assert programs["i000002"].params == {}
    finally:
        db.close()


def test_a_version_2_database_gains_parent_sources(tmp_path: Path) -> None:
    """Runs recorded before parents had sources read back with an empty source, and
    new steps store theirs."""
    import sqlite3

    from evoforge.storage import db as db_module

    path = tmp_path / "old.sqlite"
    old_schema = (
        db_module._SCHEMA.replace("    rejection TEXT,\n", "")
        .replace("    params TEXT NOT NULL DEFAULT '{}',\n", "")
        .replace(",\n    parent_source TEXT NOT NULL DEFAULT ''\n", "\n")
    )
    assert "parent_source" not in old_schema
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '2')")
    conn.execute(
        "INSERT INTO programs(seq, id, iteration, code, code_hash, inspiration_ids, "
        "operator, island, generation, status, reason, metrics, features, artifacts, "
        "eval_time_s, created_at, evaluated) "
        "VALUES (0, 'seed', 0, 'x = 1', 'h0', '[]', 'seed', 0, 0, 'ok', '', '{}', '{}', "
        "'{}', 0, 0, 1)"
    )
    conn.commit()
    conn.close()
    db = RunDatabase(path)
    try:
        assert [step.program.parent_source for step in db.steps()] == [""]
        child = Program(
            id="i000001",
            code="x = 2",
            code_hash="h1",
            seq=1,
            iteration=1,
            parent_id="seed",
            operator="tune",
            parent_source="elite",
            score=1.0,
        )
        db.commit_step(child, evaluated=True, outcome=None, reward=0.0)
        stored = db.program("i000001")
        assert stored is not None and stored.parent_source == "elite"
    finally:
        db.close()


def test_commits_leave_checkpoints_to_their_own_thread(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    db = RunDatabase(path, create=True)
    db.commit_step(_program(0), evaluated=True, outcome=None, reward=None)
    autocheckpoint = db._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert autocheckpoint == 0  # a commit never copies the log back itself
    checkpointer = db._checkpointer
    assert checkpointer is not None and checkpointer.alive
    for seq in range(1, 3 * CHECKPOINT_EVERY):
        db.commit_step(_program(seq), evaluated=True, outcome=None, reward=None)
    db.close()
    assert not checkpointer.alive
    reopened = RunDatabase(path)
    try:
        assert reopened.count_programs() == 3 * CHECKPOINT_EVERY
        assert reopened.count_evaluated() == 3 * CHECKPOINT_EVERY
    finally:
        reopened.close()


def test_state_encoded_by_its_owner_is_stored_as_it_is(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "run.sqlite", create=True)
    for seq, text in enumerate(['{"b": 1, "a": [2]}', '{"a": [3]}']):
        db.commit_step(
            _program(seq),
            evaluated=True,
            outcome=None,
            reward=None,
            state={"bandit": EncodedJSON(text), "other": {"seq": seq}},
        )
        stored = db._conn.execute("SELECT value FROM state WHERE key = 'bandit'").fetchone()[0]
        assert stored == text
    assert db.get_state("bandit") == {"a": [3]}
    assert db.get_state("other") == {"seq": 1}
    assert db._conn.execute("SELECT COUNT(*) FROM state").fetchone()[0] == 2
    db.close()


def test_has_hash_counts_evaluated_programs_only_before_and_after_reopening(
    tmp_path: Path,
) -> None:
    db = RunDatabase(tmp_path / "run.sqlite", create=True)
    db.commit_step(_program(0), evaluated=True, outcome=None, reward=None)
    assert db.has_hash(code_hash("x = 0\n"))  # the first question reads the file
    assert not db.has_hash(code_hash("x = 1\n"))
    db.commit_step(
        _program(1, score=None, status=EvalStatus.REJECTED),
        evaluated=False,
        outcome=None,
        reward=None,
    )
    db.commit_step(_program(2), evaluated=True, outcome=None, reward=None)
    assert not db.has_hash(code_hash("x = 1\n"))  # rejected: never evaluated
    assert db.has_hash(code_hash("x = 2\n"))  # committed after the first question
    db.close()
    again = RunDatabase(tmp_path / "run.sqlite")
    assert again.has_hash(code_hash("x = 0\n")) and again.has_hash(code_hash("x = 2\n"))
    assert not again.has_hash(code_hash("x = 1\n"))
    absent = [code_hash(f"y = {k}\n") for k in range(2000)]
    assert not any(again.has_hash(digest) for digest in absent)


def test_a_grown_write_ahead_log_is_cut_back_once_checkpointed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evoforge.storage import db as db_module

    monkeypatch.setattr(db_module, "WAL_SIZE_LIMIT_BYTES", 64 * 1024)
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", 10**9)  # the checkpoint below is the one
    path = tmp_path / "run.sqlite"
    wal = tmp_path / "run.sqlite-wal"
    db = RunDatabase(path, create=True)
    reader = sqlite3.connect(str(path))
    try:
        db.commit_step(_program(0), evaluated=True, outcome=None, reward=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM programs").fetchone()  # holds the log's start
        padding = "#" * 4000
        for seq in range(1, 400):  # megabytes of log that no checkpoint can reset
            program = _program(seq, artifacts={"stdout": padding})
            db.commit_step(program, evaluated=True, outcome=None, reward=None)
        grown = wal.stat().st_size
        assert grown > 1024 * 1024
        reader.rollback()
        checkpoint = sqlite3.connect(str(path))
        try:
            busy, frames, copied = checkpoint.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert busy == 0 and frames == copied
        finally:
            checkpoint.close()
        db.commit_step(_program(400), evaluated=True, outcome=None, reward=None)
        assert wal.stat().st_size <= 64 * 1024 < grown
        assert db.count_programs() == 401
    finally:
        reader.close()
        db.close()


def test_a_log_that_commits_kept_growing_is_restarted_by_the_checkpoint_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that lands while the passive checkpoint runs leaves the log not fully
    copied, so SQLite would go on appending to it; past the size limit the thread forces
    a restart, and the next commit starts the log over."""
    from evoforge.storage import db as db_module

    monkeypatch.setattr(db_module, "WAL_RESTART_BYTES", 1)  # any log is past the limit
    monkeypatch.setattr(db_module, "RESTART_BUSY_TIMEOUT_MS", 30_000)  # waits for the writer
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", 10**9)  # the nudge below is the one
    path = tmp_path / "run.sqlite"
    db = RunDatabase(path, create=True)
    writer = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    try:
        for seq in range(20):
            db.commit_step(_program(seq), evaluated=True, outcome=None, reward=None)
        checkpointer = db._checkpointer
        assert checkpointer is not None
        page_size = int(writer.execute("PRAGMA page_size").fetchone()[0])
        wal_bytes = (tmp_path / "run.sqlite-wal").stat().st_size
        frames_before = (wal_bytes - 32) // (page_size + 24)  # header, then framed pages
        assert frames_before > 20
        writer.execute("BEGIN IMMEDIATE")  # a commit in progress while the thread checkpoints
        writer.execute("INSERT INTO meta(key, value) VALUES ('during', 'checkpoint')")
        checkpointer.nudge()
        for _ in range(3000):  # wait for the passive checkpoint to have run (bounded)
            if checkpointer.checkpoints:
                break
            time.sleep(0.01)
        assert checkpointer.checkpoints == 1
        writer.execute("COMMIT")  # lands after the passive checkpoint: the log is not all copied
        checkpointer.stop()  # after the forced checkpoint it may be waiting to run
        writer.execute("INSERT INTO meta(key, value) VALUES ('after', 'restart')")
        frames_after = int(writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
        assert frames_after < frames_before  # the log started over instead of growing
        kept = db._conn.execute("SELECT COUNT(*) FROM meta WHERE key IN ('during', 'after')")
        assert kept.fetchone()[0] == 2
    finally:
        writer.close()
        db.close()
