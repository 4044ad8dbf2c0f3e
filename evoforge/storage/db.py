"""The run database: one SQLite file (WAL) per run, the only durable state of a run.

A step counts only once :meth:`RunDatabase.commit_step` has returned: the child, its
insert outcome, the events it caused (migrations, notes) and the new policy state
(bandit, counters) are written in one transaction, so a ``kill -9`` at any moment
leaves either the whole step or none of it. Programs are never deleted; archive
evictions only happen in memory, the lineage stays here.

A commit appends to the write-ahead log and returns; copying the log back into the
database file (a checkpoint, with its fsync) is left to a thread of its own
(:class:`_Checkpointer`), so the run's driver never waits for the disk. A ``kill -9``
at any moment is as safe as before: SQLite recovers the log on the next open.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoforge.json_text import sorted_json_encoder
from evoforge.kinds import RejectionKind
from evoforge.llm.records import CallOutcome, LLMCallRecord
from evoforge.program import EvalStatus, InsertOutcome, InsertStatus, Program

CHECKPOINT_EVERY = 200
"""Commits between two nudges of the checkpoint thread."""

WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024
"""What the write-ahead log file is cut back to when SQLite starts it over after a
checkpoint (``journal_size_limit``). A log that grew while checkpoints could not catch up
(a reader holding it, a loaded disk) otherwise keeps its largest size on disk for the rest
of the run: 15 MB at once in a 50,000-iteration soak."""

WAL_RESTART_BYTES = 32 * 1024 * 1024
"""Log size past which the checkpoint thread, after its passive checkpoint, forces the log
to start over (``wal_checkpoint(RESTART)``). SQLite starts the log over only when a
checkpoint has copied every frame before the next commit; with commits every few
milliseconds, passive checkpoints can keep missing that moment and the log grows without
end (240 MB after 50,000 iterations of a soak). The forced checkpoint holds back the
run's commits while it copies the last frames, at most :data:`RESTART_BUSY_TIMEOUT_MS`
waiting for a reader."""

RESTART_BUSY_TIMEOUT_MS = 250
"""How long the forced checkpoint waits for a writer or a reader before giving up until
the next nudge (the commits it holds back wait at most about this long for it)."""

SCHEMA_VERSION = 4
"""2 added ``llm_calls``, 3 ``programs.parent_source``, 4 ``programs.rejection`` and
``programs.params`` (typed fields for what older versions kept in ``reason``). An older
database is migrated on open (tables and columns added, version 4's fields filled in)."""

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
    rejection TEXT,
    params TEXT NOT NULL DEFAULT '{}',
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
    reward REAL,
    parent_source TEXT NOT NULL DEFAULT ''
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
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    model TEXT NOT NULL,
    operator TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    cost REAL NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    completions INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_calls_by_seq ON llm_calls(seq);
"""
# Columns added after version 1, with their declarations: a database that lacks one gets it.
_ADDED_COLUMNS = {
    ("programs", "parent_source"): "TEXT NOT NULL DEFAULT ''",
    ("programs", "rejection"): "TEXT",
    ("programs", "params"): "TEXT NOT NULL DEFAULT '{}'",
}
# Versions 1-3 kept tune's step in the note, the first line of the reason ("..., step 1.0e-02").
_LEGACY_STEP = re.compile(r", step ([0-9.eE+-]+)$")
# Versions 1-3 kept the kind of a rejection only in its reason's words.
_LEGACY_REJECTIONS: tuple[tuple[str, RejectionKind], ...] = (
    ("near duplicate of", RejectionKind.NEAR_DUPLICATE),
    ("duplicate of", RejectionKind.DUPLICATE),
    ("syntax error", RejectionKind.SYNTAX),
    ("unparsable code", RejectionKind.SYNTAX),
    ("static check:", RejectionKind.UNDEFINED_NAME),
    ("frozen code changed", RejectionKind.FROZEN_CODE),
    ("evolve markers broken", RejectionKind.FROZEN_CODE),
    ("expected ", RejectionKind.FROZEN_CODE),
)


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


def storable_text(text: str) -> str:
    """``text`` as SQLite can store it: UTF-8 encodable, every lone surrogate replaced.

    Candidate output, evaluator metrics and model answers may hold lone surrogates
    (``"\\ud800"``, from ``surrogateescape`` decoding or a JSON ``\\ud800`` escape), which
    UTF-8 cannot encode: writing them would make the step's commit fail, and with it every
    resume. Each lone surrogate becomes U+FFFD; a well-formed surrogate pair becomes the
    character it encodes; NUL and every other character are kept as they are. Text that
    is already storable is returned unchanged (the same object).
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _storable_or_none(text: str | None) -> str | None:
    return None if text is None else storable_text(text)


class EncodedJSON(str):
    """A value its owner has encoded as JSON text already (a policy that re-encodes only
    what changed since the last step): stored as it is, where other values are encoded."""


# One encoder for every text column, the text of ``json.dumps(value, sort_keys=True,
# ensure_ascii=False)``, without building an encoder per call (see evoforge.json_text).
_ENCODE = sorted_json_encoder(ensure_ascii=False)


def _dumps(value: Any) -> str:
    """JSON for a text column; strings inside (keys too) are made storable, so a lone
    surrogate is read back as U+FFFD rather than as the surrogate itself."""
    if isinstance(value, EncodedJSON):
        return storable_text(value)
    if not value and isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return storable_text(_ENCODE(value))


_SQLITE_MAX_PATH = 512 - len("-journal")
"""The longest database path SQLite's unix VFS opens (its 512 bytes hold the journal's)."""


_CANNOT_WRITE = (
    "unable to open database file",
    "readonly database",
    "Read-only file system",
    "the disk holding it is full",
)
"""How SQLite (or :func:`disk_full`) says it could not open a database for writing."""


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` that reads and never writes.

    Reading a database in WAL mode needs its shared-memory file (``-shm``) beside it,
    which SQLite cannot make where the directory cannot be written (a read-only mount, a
    run directory of another user). There the file is opened as immutable, which is exact
    while no write-ahead log (``-wal``) holds commits, as after a run that closed; a log
    that does hold some is refused with :class:`DatabaseError`: the latest steps would
    be missing. Raises ``sqlite3.DatabaseError`` when the file cannot be read at all.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        return _query_only(uri)
    except sqlite3.OperationalError as exc:
        full = disk_full(path, exc)
        if "unable to open" not in str(exc) and full is None:
            raise
        log = path.with_name(f"{path.name}-wal")
        if log.exists() and log.stat().st_size > 0:
            if full is not None:
                raise DatabaseError(f"{full} (its latest steps are in {log.name})") from exc
            raise DatabaseError(
                f"run database {path} cannot be read here: its latest steps are in "
                f"{log.name}, which needs a directory that can be written; copy the run "
                "directory to one"
            ) from exc
        return _query_only(f"{uri}&immutable=1")


def _query_only(uri: str) -> sqlite3.Connection:
    """A connection to ``uri`` that refuses writes, checked by reading the schema."""
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, timeout=30.0, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def path_too_long(path: Path) -> str | None:
    """Why SQLite cannot open the database at ``path`` when its full path is too long for
    it (``None`` when it is not): what fails then is only "unable to open database file"."""
    try:
        length = len(os.fsencode(os.path.realpath(path)))
    except (OSError, ValueError):
        return None
    if length <= _SQLITE_MAX_PATH:
        return None
    return (
        f"run database {path} cannot be opened: its full path is {length} bytes long, "
        f"more than SQLite opens ({_SQLITE_MAX_PATH}); use a shorter run directory"
    )


DISK_FULL_BYTES = 1 << 20
"""Free space below which a filesystem counts as full: SQLite's shared-memory file alone
takes 32 KiB, and its log grows by pages."""


def disk_full(path: Path, error: sqlite3.Error) -> str | None:
    """Why SQLite could not open the database at ``path`` when ``error`` is an I/O error
    (or "disk is full") and the filesystem holding it has no room left (``None``
    otherwise). SQLite says only "disk I/O error" then, as for a damaged disk, for even
    reading needs room beside the database for its shared-memory file (``-shm``)."""
    name = getattr(error, "sqlite_errorname", "") or ""
    if not (name.startswith("SQLITE_IOERR") or name == "SQLITE_FULL" or "is full" in str(error)):
        return None
    try:
        found = os.statvfs(path.parent)
    except OSError:
        return None
    free = found.f_bavail * found.f_frsize
    if free >= DISK_FULL_BYTES:
        return None
    return (
        f"run database {path} cannot be opened: the disk holding it is full ({free} bytes "
        "free, and SQLite needs room beside the database even to read it); free some space"
    )


def _file_identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of the file at ``path`` (None when there is none)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


CUT_PROMPT_CHARS_PER_TOKEN = 8
"""Characters per prompt token beyond which a server must have dropped part of a prompt."""
CUT_PROMPT_MIN_CHARS = 4000
"""Prompts shorter than this are never judged cut (a short text may count oddly)."""


class RunDatabase:
    """Typed access to one run's SQLite file. Not thread-safe: use from one thread at a
    time (which may change: a run started from a notebook's cell is driven from a helper
    thread after its seed was committed in the cell's thread)."""

    FILENAME = "run.sqlite"

    def __init__(self, path: Path, *, create: bool = False, read_only: bool = False) -> None:
        """Open (or with ``create``, make) the run database at ``path``, bringing an older
        one up to date. ``read_only``: open it without writing anything, also where its
        directory cannot be written (:func:`connect_read_only`); every write then fails,
        and a database of an older schema is refused (it cannot be brought up to date)."""
        self.path = path
        self._checkpointer: _Checkpointer | None = None
        self._commits = 0
        self._evaluated_filter: _DigestFilter | None = None  # built by the first has_hash
        if not create and not path.exists():
            raise DatabaseError(f"no run database at {path}")
        try:
            if read_only:
                self._conn = connect_read_only(path)
                self._refuse_older_schema()
            else:
                self._conn = sqlite3.connect(
                    str(path), isolation_level=None, timeout=30.0, check_same_thread=False
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute("PRAGMA foreign_keys=ON")
                self._conn.execute(f"PRAGMA journal_size_limit={int(WAL_SIZE_LIMIT_BYTES)}")
                if create:
                    self._conn.executescript(_SCHEMA)
                    self._set_meta_if_absent("schema_version", str(SCHEMA_VERSION))
                self._migrate()
            self._check_integrity()
        except sqlite3.DatabaseError as exc:
            known = path_too_long(path) or disk_full(path, exc)
            if known is not None:
                raise DatabaseError(known) from exc
            raise DatabaseError(f"run database {path} is unreadable or corrupt: {exc}") from exc
        self._identity = _file_identity(path)

    @classmethod
    def open_for_reading(cls, path: Path) -> RunDatabase:
        """The run database at ``path`` for a command that only reads it (``status``,
        ``best``, ``export``): opened as usual (an older one is brought up to date), or,
        where that cannot write (a read-only mount, another user's run), read-only. When
        both fail, the :class:`DatabaseError` raised is the read-only attempt's where the
        first failed for want of writing, else the first's."""
        try:
            return cls(path)
        except DatabaseError as error:
            try:
                return cls(path, read_only=True)
            except DatabaseError as reading:
                cannot_write = any(words in str(error) for words in _CANNOT_WRITE)
                raise (reading if cannot_write else error) from None

    def _refuse_older_schema(self) -> None:
        version = self.get_meta("schema_version")
        if version is not None and version.isdigit() and int(version) < SCHEMA_VERSION:
            raise DatabaseError(
                f"run database {self.path} was written by an older evoforge (schema version "
                f"{version}) and cannot be brought up to date here, where it cannot be "
                "written; open it once where it can"
            )

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

    def _migrate(self) -> None:
        """Bring an older run database up to :data:`SCHEMA_VERSION` (additive only)."""
        try:
            version = int(self.get_meta("schema_version") or "0")
        except (ValueError, sqlite3.OperationalError):
            return  # no meta table or a strange version: the integrity check reports it
        if not 1 <= version < SCHEMA_VERSION:
            return  # current, or unknown: the integrity check reports the latter
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):  # version 1 lacks llm_calls
                if statement.strip():
                    self._conn.execute(statement)
            for (table, column), declaration in _ADDED_COLUMNS.items():
                present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if version < 4:
                self._backfill_v4()
            self._conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    def _backfill_v4(self) -> None:
        """Fill version 4's typed columns from the words older versions wrote in ``reason``."""
        rows = self._conn.execute(
            "SELECT seq, operator, status, reason FROM programs "
            "WHERE operator = 'tune' OR status = 'rejected'"
        ).fetchall()
        for seq, operator, status, reason in rows:
            if status == "rejected":
                kind = next(
                    (k for prefix, k in _LEGACY_REJECTIONS if reason.startswith(prefix)),
                    RejectionKind.NO_CHANGE
                    if reason.endswith("produced no change")
                    else RejectionKind.OTHER,
                )
                self._conn.execute(
                    "UPDATE programs SET rejection = ? WHERE seq = ?", (kind.value, seq)
                )
            match = _LEGACY_STEP.search(reason.partition("\n")[0]) if operator == "tune" else None
            if match is not None:
                try:
                    step = float(match.group(1))
                except ValueError:
                    continue
                if math.isfinite(step) and step > 0:
                    self._conn.execute(
                        "UPDATE programs SET params = ? WHERE seq = ?",
                        (_dumps({"step": step}), seq),
                    )

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self._conn.close()

    def _committed(self) -> None:
        """Count a commit; every :data:`CHECKPOINT_EVERY`, wake the checkpoint thread
        (started at the first commit, when SQLite's own checkpoints are turned off)."""
        if self._checkpointer is None:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = _Checkpointer(self.path)
            # a database dropped without close() must not leave its thread behind
            weakref.finalize(self, self._checkpointer.stop, wait=False)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._checkpointer.nudge()
        self.check_in_place()

    def check_in_place(self) -> None:
        """Raise :class:`DatabaseError` when the file at :attr:`path` is no longer the one
        this connection writes (the run directory was deleted, the database removed or
        replaced): commits would go on into a file nobody can open again."""
        if _file_identity(self.path) != self._identity:
            raise DatabaseError(
                f"the run database {self.path} was removed or replaced while this run wrote "
                "it; the steps committed since are lost (the run stopped)"
            )

    # -- meta and state ---------------------------------------------------------------

    def _set_meta_if_absent(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
            (storable_text(key), storable_text(value)),
        )

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [(storable_text(key), storable_text(value)) for key, value in values.items()],
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

    def delete_state(self, keys: Iterable[str]) -> None:
        """Remove these keys from the run's state (absent ones are ignored)."""
        with self._transaction():
            self._conn.executemany(
                "DELETE FROM state WHERE key = ?", [(storable_text(key),) for key in keys]
            )

    def _write_state(self, values: Mapping[str, Any]) -> None:
        # an upsert rewrites the row in place (REPLACE would delete it and insert it
        # anew); every row in one statement, one pass of SQLite's machinery
        if not values:
            return
        rows = ", ".join(["(?, ?)"] * len(values))
        parameters: list[str] = []
        for key, value in values.items():
            parameters += (storable_text(key), _dumps(value))
        self._conn.execute(
            f"INSERT INTO state(key, value) VALUES {rows} "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            parameters,
        )

    def store_problem_files(self, files: Mapping[str, bytes]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO problem_files(path, content) VALUES (?, ?)",
                [(storable_text(path), content) for path, content in files.items()],
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
        llm_calls: Sequence[LLMCallRecord] = (),
    ) -> None:
        """Write one step atomically: the program, its outcome, events, new state and the
        language-model requests made for it."""
        now = time.time()
        with self._transaction():
            self._conn.execute(
                """INSERT INTO programs(seq, id, iteration, code, code_hash, parent_id,
                inspiration_ids, operator, island, generation, status, reason, rejection, params,
                score, metrics, features, artifacts, eval_time_s, created_at, evaluated,
                outcome_status, outcome_improvement, outcome_cell, reward, parent_source)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                ?, ?)""",
                (
                    program.seq,
                    storable_text(program.id),
                    program.iteration,
                    storable_text(program.code),
                    storable_text(program.code_hash),
                    _storable_or_none(program.parent_id),
                    _dumps(list(program.inspiration_ids)),
                    storable_text(program.operator),
                    program.island,
                    program.generation,
                    program.status.value,
                    storable_text(program.reason),
                    None if program.rejection is None else program.rejection.value,
                    _dumps(dict(program.params)),
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
                    storable_text(program.parent_source),
                ),
            )
            if events:
                self._conn.executemany(
                    "INSERT INTO events(seq, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                    [
                        (program.seq, storable_text(kind), _dumps(dict(payload)), now)
                        for kind, payload in events
                    ],
                )
            if state:
                self._write_state(state)
            if llm_calls:
                self._write_llm_calls(program.seq, llm_calls)
        if evaluated and self._evaluated_filter is not None:
            self._evaluated_filter.add(program.code_hash)
        self._committed()

    def _write_llm_calls(self, seq: int, records: Sequence[LLMCallRecord]) -> None:
        self._conn.executemany(
            """INSERT INTO llm_calls(seq, model, operator, prompt, response, tokens_in,
            tokens_out, latency_s, cost, outcome, error, attempt, completions, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    seq,
                    storable_text(r.model),
                    storable_text(r.operator),
                    storable_text(r.prompt),
                    storable_text(r.response),
                    r.tokens_in,
                    r.tokens_out,
                    r.latency_s,
                    r.cost,
                    r.outcome.value,
                    storable_text(r.error),
                    r.attempt,
                    r.completions,
                    r.created_at,
                )
                for r in records
            ],
        )

    def llm_calls(self) -> list[tuple[int, LLMCallRecord]]:
        """Every recorded language-model request as ``(step seq, record)``, in order."""
        return list(self.iter_llm_calls())

    def iter_llm_calls(self) -> Iterator[tuple[int, LLMCallRecord]]:
        """:meth:`llm_calls` one at a time, read as they are asked for: a reader that
        keeps a part of each (an export keeps the messages) never holds every prompt
        twice (a model's run stores tens of kilobytes per request)."""
        rows = self._conn.execute(
            "SELECT seq, model, operator, prompt, response, tokens_in, tokens_out, latency_s, "
            "cost, outcome, error, attempt, completions, created_at FROM llm_calls ORDER BY id"
        )
        return (_call_from_row(row) for row in rows)

    def iter_llm_calls_for(self, seqs: Iterable[int]) -> Iterator[tuple[int, LLMCallRecord]]:
        """:meth:`iter_llm_calls` for the steps ``seqs`` only (by the ``seq`` index), in
        the order they were recorded within each step; steps come in no set order."""
        wanted = sorted(set(seqs))
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT seq, model, operator, prompt, response, tokens_in, tokens_out, "
                "latency_s, cost, outcome, error, attempt, completions, created_at "
                f"FROM llm_calls WHERE seq IN ({marks}) ORDER BY id",
                chunk,
            )
            yield from (_call_from_row(row) for row in rows)

    def llm_usage(self) -> dict[str, Any]:
        """Totals of the recorded requests: calls, tokens, cost, outcomes, per model; and
        per model ``prompts_cut``, the answered requests whose prompt the server counted
        at under one token per :data:`CUT_PROMPT_CHARS_PER_TOKEN` characters (no
        tokenizer packs code that densely: the server dropped part of the prompt, as
        Ollama does past its context length), with ``cut_prompt_tokens``, the most
        tokens it counted of such a prompt."""
        per_model: dict[str, dict[str, Any]] = {}
        totals: dict[str, Any] = {
            "calls": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost": 0.0,
            "latency_s": 0.0,
            "outcomes": {},
            "failures": {},
        }
        rows = self._conn.execute(
            "SELECT model, outcome, COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost), "
            "SUM(latency_s) FROM llm_calls GROUP BY model, outcome ORDER BY model, outcome"
        )
        for model, outcome, calls, tokens_in, tokens_out, cost, latency in rows:
            entry = per_model.setdefault(
                model,
                {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "outcomes": {}},
            )
            for target in (totals, entry):
                target["calls"] += int(calls)
                target["tokens_in"] += int(tokens_in or 0)
                target["tokens_out"] += int(tokens_out or 0)
                target["cost"] += float(cost or 0.0)
                target["outcomes"][outcome] = target["outcomes"].get(outcome, 0) + int(calls)
            totals["latency_s"] += float(latency or 0.0)
            if outcome != CallOutcome.OK.value:
                totals["failures"][outcome] = totals["failures"].get(outcome, 0) + int(calls)
        cut_rows = self._conn.execute(
            "SELECT model, COUNT(*), MAX(tokens_in) FROM llm_calls WHERE outcome = ? "
            "AND LENGTH(prompt) >= ? AND tokens_in * ? < LENGTH(prompt) GROUP BY model",
            (CallOutcome.OK.value, CUT_PROMPT_MIN_CHARS, CUT_PROMPT_CHARS_PER_TOKEN),
        )
        for model, cut, most_tokens in cut_rows:
            if model in per_model:
                per_model[model]["prompts_cut"] = int(cut)
                per_model[model]["cut_prompt_tokens"] = int(most_tokens or 0)
        totals["models"] = per_model
        return totals

    def add_event(self, seq: int, kind: str, payload: Mapping[str, Any]) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO events(seq, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                (seq, storable_text(kind), _dumps(dict(payload)), time.time()),
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

    def programs_by_id(self, ids: Iterable[str]) -> dict[str, Program]:
        """The programs of ``ids`` that the run holds, by id (unknown ids left out), read
        by the id index a few hundred at a time."""
        wanted = sorted(set(ids))
        found: dict[str, Program] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor = self._conn.execute(f"SELECT * FROM programs WHERE id IN ({marks})", chunk)
            columns = [description[0] for description in cursor.description]
            for row in cursor:
                program = _step_from_row(dict(zip(columns, row, strict=True))).program
                found[program.id] = program
        return found

    def program_outlines(
        self,
    ) -> Iterator[tuple[int, str, str | None, str, float | None, str, str, str]]:
        """Every program as ``(seq, id, parent_id, status, score, operator, code_hash,
        code)`` in commit order, read one row at a time (nothing else of the program:
        no metrics, artifacts or inspirations), for a reader that keeps a digest of the
        code rather than the code."""
        rows = self._conn.execute(
            "SELECT seq, id, parent_id, status, score, operator, code_hash, code "
            "FROM programs ORDER BY seq"
        )
        yield from rows

    def best_program(self) -> Program | None:
        """The highest-scoring ok program; ties go to a ``simplify`` child (the same
        behaviour in cleaner code replaces the program it simplified), then to the
        earliest committed."""
        cursor = self._conn.execute(
            "SELECT * FROM programs WHERE status = 'ok' AND score IS NOT NULL "
            "ORDER BY score DESC, operator = 'simplify' DESC, seq ASC LIMIT 1"
        )
        columns = [description[0] for description in cursor.description]
        row = cursor.fetchone()
        return None if row is None else _step_from_row(dict(zip(columns, row, strict=True))).program

    def top_programs(self, limit: int, *, distinct_scores: bool = False) -> list[Program]:
        """The ``limit`` best ok programs with distinct code, best first (ties: earliest);
        with ``distinct_scores``, only the earliest program of each score."""
        cursor = self._conn.execute(
            "SELECT * FROM programs WHERE status = 'ok' AND score IS NOT NULL "
            "ORDER BY score DESC, seq ASC"
        )
        columns = [description[0] for description in cursor.description]
        chosen: list[Program] = []
        hashes: set[str] = set()
        for row in cursor:
            program = _step_from_row(dict(zip(columns, row, strict=True))).program
            key = repr(program.score) if distinct_scores else program.code_hash
            if key in hashes:
                continue
            hashes.add(key)
            chosen.append(program)
            if len(chosen) >= limit:
                break
        return chosen

    def count_programs(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM programs").fetchone()[0])

    def count_evaluated(self) -> int:
        """Programs that were evaluated (the seed included), rejected ones not."""
        row = self._conn.execute("SELECT COUNT(*) FROM programs WHERE evaluated = 1").fetchone()
        return int(row[0])

    def max_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM programs").fetchone()
        return -1 if row[0] is None else int(row[0])

    def has_hash(self, digest: str) -> bool:
        """Whether a program with this code hash was evaluated (rejected ones do not count).

        Most children are new, so the answer comes from an in-memory filter of the
        evaluated hashes (built from the file on the first call, then fed by
        :meth:`commit_step`): a "no" from it is certain, a "maybe" is asked of the file.
        The filter knows what this object committed: it assumes it is the run's only
        writer, as the run's driver is (the run lock allows one).
        """
        known = self._evaluated_filter
        if known is None:
            known = self._evaluated_filter = _DigestFilter()
            for (stored,) in self._conn.execute(
                "SELECT code_hash FROM programs WHERE evaluated = 1"
            ):
                known.add(stored)
        if digest not in known:
            return False
        row = self._conn.execute(
            "SELECT 1 FROM programs WHERE code_hash = ? AND evaluated = 1 LIMIT 1", (digest,)
        ).fetchone()
        return row is not None

    def status_counts(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT status, COUNT(*) FROM programs GROUP BY status")
        return {str(status): int(count) for status, count in rows}

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _DigestFilter:
    """A Bloom filter over code hashes: no false "no", rare false "maybe".

    A fixed 1 MiB of bits, two per hash (taken from Python's own hash of the text), so its
    memory does not grow with the run: about one "maybe" in 2,000 for a new hash among
    50,000 stored, one in 20 among a million.
    """

    _BITS = 1 << 23
    _MASK = _BITS - 1

    def __init__(self) -> None:
        self._bits = bytearray(self._BITS >> 3)

    def add(self, digest: str) -> None:
        value = hash(digest)
        for position in (value & self._MASK, (value >> 23) & self._MASK):
            self._bits[position >> 3] |= 1 << (position & 7)

    def __contains__(self, digest: str) -> bool:
        value = hash(digest)
        first, second = value & self._MASK, (value >> 23) & self._MASK
        bits = self._bits
        return bool(bits[first >> 3] >> (first & 7) & 1 and bits[second >> 3] >> (second & 7) & 1)


class _Checkpointer:
    """A thread that checkpoints the run database's write-ahead log when nudged.

    It has its own connection and runs passive checkpoints, which never block a writer
    or a reader; SQLite releases the interpreter lock while it copies pages and syncs,
    so the committing thread runs on. When the log has grown past
    :data:`WAL_RESTART_BYTES` anyway (commits kept landing while checkpoints ran), it
    follows with a ``RESTART`` checkpoint, so that the next commit starts the log over.
    A checkpoint that fails or times out (disk full, read-only file, a long reader) is
    left for the next nudge: the commits report such failures themselves.
    ``checkpoints``: passive checkpoints finished so far.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = False
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="evoforge-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(str(self._path), isolation_level=None, timeout=30.0)
            conn.execute(f"PRAGMA busy_timeout={RESTART_BUSY_TIMEOUT_MS}")
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        except sqlite3.Error:
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                with contextlib.suppress(sqlite3.Error):
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    if frames * page_size > WAL_RESTART_BYTES:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        finally:
            conn.close()

    def nudge(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, *, wait: bool = True) -> None:
        """End the thread (after the checkpoint it may be running)."""
        self._stopping = True
        self._wake.set()
        if wait:
            self._thread.join()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    An SQLite error on the way (disk full, read-only or vanished file, I/O error, corrupt
    page) is raised as :class:`DatabaseError` naming the file, after the rollback: the
    step is then not recorded at all, never half-written.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _failure(self, error: sqlite3.Error) -> DatabaseError:
        path = next((row[2] for row in self._conn.execute("PRAGMA database_list")), "")
        return DatabaseError(f"cannot write the run database {path}: {error}")

    def __enter__(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._failure(error) from error

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._conn.execute("COMMIT")
                return
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if not _is_storage_failure(error):
                    raise
                raise self._failure(error) from error
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and _is_storage_failure(exc):
            raise self._failure(exc) from exc


def _is_storage_failure(exc: object) -> bool:
    """Disk full, read-only, I/O error, corrupt file: not a constraint a caller broke."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


_IN_CHUNK = 500
"""Most values bound in one ``IN (...)`` list (SQLite's limit is 999 on old builds)."""


def _call_from_row(row: Sequence[Any]) -> tuple[int, LLMCallRecord]:
    return (
        int(row[0]),
        LLMCallRecord(
            model=row[1],
            operator=row[2],
            prompt=row[3],
            response=row[4],
            tokens_in=int(row[5]),
            tokens_out=int(row[6]),
            latency_s=float(row[7]),
            cost=float(row[8]),
            outcome=CallOutcome(row[9]),
            error=row[10],
            attempt=int(row[11]),
            completions=int(row[12]),
            created_at=float(row[13]),
        ),
    )


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
        rejection=None if row["rejection"] is None else RejectionKind(row["rejection"]),
        params=json.loads(row["params"]),
        score=row["score"],
        metrics=json.loads(row["metrics"]),
        features=json.loads(row["features"]),
        artifacts=json.loads(row["artifacts"]),
        eval_time_s=row["eval_time_s"],
        created_at=row["created_at"],
        parent_source=row.get("parent_source") or "",
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
