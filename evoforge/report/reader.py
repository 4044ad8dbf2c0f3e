"""Read-only access to a run database, for viewers that run beside a writing run.

The connection is opened with SQLite's ``mode=ro`` URI, so nothing that reads through a
:class:`RunReader` can change a run, and a run in progress keeps writing undisturbed
(WAL lets one writer and many readers work at once). Every query answers plain data
(dicts, lists, numbers, strings) for the web view, the HTML report and the CLI.

A reader may be shared between threads: each query holds the reader's lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evoforge.running_time import SPANS_STATE
from evoforge.splits import FINAL_STATE
from evoforge.storage.db import (
    DatabaseError,
    RunDatabase,
    connect_read_only,
    disk_full,
    path_too_long,
    storable_text,
)

REPORT_FILENAME = "report.html"  # where ``evoforge report`` writes in a run directory
VIEWED_STATE = (SPANS_STATE, FINAL_STATE)
"""State the viewers show that may change without a step, an event or a model call."""


class RunReader:
    """One run directory's database, opened read-only.

    Raises :class:`DatabaseError` when ``run_dir`` holds no readable run database.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / RunDatabase.FILENAME
        if not self.path.is_file():
            raise DatabaseError(f"{run_dir} holds no run (no {RunDatabase.FILENAME})")
        try:
            self._conn = connect_read_only(self.path)
            tables = {
                row[0]
                for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            known = path_too_long(self.path) or disk_full(self.path, exc)
            if known is not None:
                raise DatabaseError(known) from exc
            raise DatabaseError(f"run database {self.path} is unreadable: {exc}") from exc
        missing = {"meta", "programs", "events", "state"} - tables
        if missing:
            raise DatabaseError(f"run database {self.path} lacks tables {sorted(missing)}")
        self._has_llm_calls = "llm_calls" in tables
        self._lock = threading.RLock()

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, held exclusively for one consistent read (one transaction)."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        with self._lock:
            return list(self._conn.execute(sql, params))

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
            return None if row is None else tuple(row)

    @property
    def label(self) -> str:
        """A short human name for the run: its directory's name (as text that encodes:
        bytes of a name in another encoding are shown as U+FFFD)."""
        return storable_text(self.run_dir.resolve().name)

    @property
    def has_llm_calls(self) -> bool:
        return self._has_llm_calls

    def meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def state(self, key: str) -> Any:
        row = self.one("SELECT value FROM state WHERE key = ?", (key,))
        return None if row is None else json.loads(row[0])

    def version(self) -> dict[str, int]:
        """A cheap fingerprint that changes whenever the run commits anything."""
        with self._lock:
            seq = self._conn.execute("SELECT COALESCE(MAX(seq), -1) FROM programs").fetchone()[0]
            events = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
            calls = (
                self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM llm_calls").fetchone()[0]
                if self._has_llm_calls
                else 0
            )
            stopped = self._conn.execute(
                "SELECT COUNT(*) FROM state WHERE key = 'stop_reason'"
            ).fetchone()[0]
            marks = ", ".join(["?"] * len(VIEWED_STATE))
            viewed = self._conn.execute(
                f"SELECT key, value FROM state WHERE key IN ({marks}) ORDER BY key", VIEWED_STATE
            ).fetchall()
        return {
            "seq": int(seq),
            "events": int(events),
            "llm_calls": int(calls),
            "stopped": int(stopped),
            "state": zlib.crc32(repr(viewed).encode("utf-8")),
        }

    def config(self) -> dict[str, Any]:
        """The run's stored configuration as plain data (empty when none is stored)."""
        stored = self.meta("config")
        if stored is None:
            return {}
        data = json.loads(stored)
        return data if isinstance(data, dict) else {}
