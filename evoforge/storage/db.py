"""The run database: one SQLite file (WAL) per run, the only durable state of a run.

A step counts only once :meth:`RunDatabase.commit_step` has returned: the child, its
insert outcome, the events it caused (migrations, notes) and the new policy state
(bandit, counters) are written in one transaction, so a ``kill -9`` at any moment
leaves either the whole step or none of it. Programs are never deleted; archive
evictions only happen in memory, the lineage stays here.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoforge.program import EvalStatus, InsertOutcome, InsertStatus, Program

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS programs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    iteration INTEGER NOT NULL,
    code TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    parent_id TEXT,
    inspiration_ids TEXT NOT NULL,
    operator TEXT NOT NULL,
    island INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    score REAL,
    metrics TEXT NOT NULL,
    features TEXT NOT NULL,
    artifacts TEXT NOT NULL,
    eval_time_s REAL NOT NULL,
    created_at REAL NOT NULL,
    evaluated INTEGER NOT NULL,
    outcome_status TEXT,
    outcome_improvement REAL,
    outcome_cell TEXT,
    reward REAL
);
CREATE INDEX IF NOT EXISTS programs_by_hash ON programs(code_hash);
CREATE INDEX IF NOT EXISTS programs_by_score ON programs(score);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS problem_files (
    path TEXT PRIMARY KEY,
    content BLOB NOT NULL
);
"""


class DatabaseError(RuntimeError):
    """The run database is missing, unreadable, corrupt or from an unknown version."""


@dataclass(frozen=True)
class StoredStep:
    """A committed program with the insert outcome and reward it earned."""

    program: Program
    evaluated: bool
    outcome: InsertOutcome | None
    reward: float | None


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    payload: dict[str, Any]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=True)


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


class RunDatabase:
    """Typed access to one run's SQLite file. Not thread-safe: use from one thread."""

    FILENAME = "run.sqlite"

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        if not create and not path.exists():
            raise DatabaseError(f"no run database at {path}")
        try:
            self._conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            if create:
                self._conn.executescript(_SCHEMA)
                self._set_meta_if_absent("schema_version", str(SCHEMA_VERSION))
            self._check_integrity()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"run database {path} is unreadable or corrupt: {exc}") from exc

    def _check_integrity(self) -> None:
        tables = {
            row[0]
            for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        missing = {"meta", "programs", "events", "state"} - tables
        if missing:
            raise DatabaseError(f"run database {self.path} lacks tables {sorted(missing)}")
        version = self.get_meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise DatabaseError(
                f"run database {self.path} has schema version {version}, expected {SCHEMA_VERSION}"
            )
        row = self._conn.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise DatabaseError(f"run database {self.path} failed its integrity check: {row}")

    def close(self) -> None:
        self._conn.close()

    # -- meta and state ---------------------------------------------------------------

    def _set_meta_if_absent(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items())
            )

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def get_state(self, key: str) -> Any:
        row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_state(self, values: Mapping[str, Any]) -> None:
        with self._transaction():
            self._write_state(values)

    def _write_state(self, values: Mapping[str, Any]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)",
            [(key, _dumps(value)) for key, value in values.items()],
        )

    def store_problem_files(self, files: Mapping[str, bytes]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO problem_files(path, content) VALUES (?, ?)",
                list(files.items()),
            )

    def problem_files(self) -> dict[str, bytes]:
        rows = self._conn.execute("SELECT path, content FROM problem_files ORDER BY path")
        return {str(path): bytes(content) for path, content in rows}

    # -- steps ------------------------------------------------------------------------

    def commit_step(
        self,
        program: Program,
        *,
        evaluated: bool,
        outcome: InsertOutcome | None,
        reward: float | None,
        events: Sequence[tuple[str, Mapping[str, Any]]] = (),
        state: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one step atomically: the program, its outcome, events and new state."""
        now = time.time()
        with self._transaction():
            self._conn.execute(
                """INSERT INTO programs(seq, id, iteration, code, code_hash, parent_id,
                inspiration_ids, operator, island, generation, status, reason, score, metrics,
                features, artifacts, eval_time_s, created_at, evaluated, outcome_status,
                outcome_improvement, outcome_cell, reward)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    program.seq,
                    program.id,
                    program.iteration,
                    program.code,
                    program.code_hash,
                    program.parent_id,
                    _dumps(list(program.inspiration_ids)),
                    program.operator,
                    program.island,
                    program.generation,
                    program.status.value,
                    program.reason,
                    _finite_or_none(program.score),
                    _dumps(dict(program.metrics)),
                    _dumps(dict(program.features)),
                    _dumps(dict(program.artifacts)),
                    program.eval_time_s,
                    program.created_at,
                    int(evaluated),
                    None if outcome is None else outcome.status.value,
                    None if outcome is None else outcome.improvement,
                    None if outcome is None else _dumps(list(outcome.cell)),
                    reward,
                ),
            )
            self._conn.executemany(
                "INSERT INTO events(seq, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                [(program.seq, kind, _dumps(dict(payload)), now) for kind, payload in events],
            )
            if state:
                self._write_state(state)

    def add_event(self, seq: int, kind: str, payload: Mapping[str, Any]) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO events(seq, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                (seq, kind, _dumps(dict(payload)), time.time()),
            )

    def steps(self) -> Iterator[StoredStep]:
        """Every committed step in commit order (seq ascending)."""
        cursor = self._conn.execute("SELECT * FROM programs ORDER BY seq")
        columns = [description[0] for description in cursor.description]
        for row in cursor:
            yield _step_from_row(dict(zip(columns, row, strict=True)))

    def events(self, kind: str | None = None) -> list[Event]:
        if kind is None:
            rows = self._conn.execute("SELECT seq, kind, payload FROM events ORDER BY id")
        else:
            rows = self._conn.execute(
                "SELECT seq, kind, payload FROM events WHERE kind = ? ORDER BY id", (kind,)
            )
        return [Event(int(seq), str(k), json.loads(payload)) for seq, k, payload in rows]

    def program(self, program_id: str) -> Program | None:
        cursor = self._conn.execute("SELECT * FROM programs WHERE id = ?", (program_id,))
        columns = [description[0] for description in cursor.description]
        row = cursor.fetchone()
        return None if row is None else _step_from_row(dict(zip(columns, row, strict=True))).program

    def best_program(self) -> Program | None:
        """The highest-scoring ok program; ties go to the earliest committed."""
        cursor = self._conn.execute(
            "SELECT * FROM programs WHERE status = 'ok' AND score IS NOT NULL "
            "ORDER BY score DESC, seq ASC LIMIT 1"
        )
        columns = [description[0] for description in cursor.description]
        row = cursor.fetchone()
        return None if row is None else _step_from_row(dict(zip(columns, row, strict=True))).program

    def count_programs(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM programs").fetchone()[0])

    def max_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM programs").fetchone()
        return -1 if row[0] is None else int(row[0])

    def has_hash(self, digest: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM programs WHERE code_hash = ? AND evaluated = 1 LIMIT 1", (digest,)
        ).fetchone()
        return row is not None

    def status_counts(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT status, COUNT(*) FROM programs GROUP BY status")
        return {str(status): int(count) for status, count in rows}

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")


def _step_from_row(row: dict[str, Any]) -> StoredStep:
    program = Program(
        id=row["id"],
        code=row["code"],
        code_hash=row["code_hash"],
        seq=row["seq"],
        iteration=row["iteration"],
        parent_id=row["parent_id"],
        inspiration_ids=tuple(json.loads(row["inspiration_ids"])),
        operator=row["operator"],
        island=row["island"],
        generation=row["generation"],
        status=EvalStatus(row["status"]),
        reason=row["reason"],
        score=row["score"],
        metrics=json.loads(row["metrics"]),
        features=json.loads(row["features"]),
        artifacts=json.loads(row["artifacts"]),
        eval_time_s=row["eval_time_s"],
        created_at=row["created_at"],
    )
    outcome = None
    if row["outcome_status"] is not None:
        outcome = InsertOutcome(
            status=InsertStatus(row["outcome_status"]),
            improvement=float(row["outcome_improvement"] or 0.0),
            cell=tuple(json.loads(row["outcome_cell"] or "[]")),
            island=row["island"],
        )
    return StoredStep(
        program=program, evaluated=bool(row["evaluated"]), outcome=outcome, reward=row["reward"]
    )
