"""The runs a web view shows, with answers cached until the run commits again.

Each run is read through its own read-only :class:`RunReader`. An answer is kept with
the run's version fingerprint (last step, last event, last model call) and served again
until the fingerprint changes, so a browser polling an idle or slow run costs one tiny
query per poll; when the run moved on, the archive replay and the statistics fold in only
the new steps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoforge.report.archive_view import ArchiveReplay
from evoforge.report.reader import RunReader
from evoforge.report.tracker import RunTracker
from evoforge.report.views import ProgramCounter
from evoforge.runs import lock_holder
from evoforge.storage.db import DatabaseError


def _file_identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of ``path``: another file once a run is replaced (``--fresh``)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


@dataclass
class _RunParts:
    """What is read of one run database: its reader, archive replay, statistics and
    program counts."""

    reader: RunReader
    archive: ArchiveReplay
    tracker: RunTracker
    counter: ProgramCounter
    identity: tuple[tuple[int, int] | None, bool]  # the file, and whether it had a config

    @classmethod
    def open(cls, run_dir: Path) -> _RunParts:
        reader = RunReader(run_dir)
        identity = (_file_identity(reader.path), reader.meta("config") is not None)
        return cls(
            reader, ArchiveReplay(reader), RunTracker(reader), ProgramCounter(reader), identity
        )


class ServedRun:
    """One run directory being served: its reader, archive replay and answer cache.

    The run is read again from scratch when its database is another file (the run was
    replaced, ``evoforge run --fresh``) or its configuration appeared since it was read
    (the server started before the run was set up), so the view never shows a run that
    is gone or an archive laid out by the default configuration.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._parts = _RunParts.open(run_dir)
        self._cache: dict[str, tuple[dict[str, int], Any]] = {}
        self._lock = threading.Lock()

    @property
    def reader(self) -> RunReader:
        return self._parts.reader

    @property
    def archive(self) -> ArchiveReplay:
        return self._parts.archive

    @property
    def tracker(self) -> RunTracker:
        return self._parts.tracker

    def refresh(self) -> None:
        """Reopen the run if its database was replaced or its configuration appeared;
        while a replacement is not readable yet, the run read before stays."""
        parts = self._parts
        file, had_config = parts.identity
        current = _file_identity(parts.reader.path)
        if current is None:
            return
        if current == file and (had_config or parts.reader.meta("config") is None):
            return
        try:
            fresh = _RunParts.open(self.run_dir)
        except DatabaseError:
            return
        with self._lock:
            self._parts = fresh
            self._cache.clear()  # a new run's fingerprints may equal the old one's
        # the old reader is left to the garbage collector: a request may still read it

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``'s answer for the run's current version (recomputed on change)."""
        version = self.reader.version()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (version, value)
            if len(self._cache) > 256:  # programs are looked up one by one: bound it
                self._cache.pop(next(iter(self._cache)))
        return value

    def overview(self) -> dict[str, Any]:
        """The overview answer (cached), with ``running_in``: who holds the run's lock now
        (:func:`evoforge.runs.lock_holder`; None when nobody drives it)."""
        result: dict[str, Any] = self.cached("overview", self.tracker.overview)
        return {**result, "running_in": lock_holder(self.run_dir)}

    def operators(self) -> dict[str, Any]:
        """The operators answer (cached)."""
        result: dict[str, Any] = self.cached("operators", self.tracker.operators)
        return result

    def program_counts(self) -> dict[str, Any]:
        """The program counts by status and operator (cached; the new programs only are
        counted when the run moved)."""
        result: dict[str, Any] = self.cached("program-counts", self._parts.counter.counts)
        return result

    def islands(self) -> list[dict[str, Any]]:
        """The archive answer (cached)."""
        result: list[dict[str, Any]] = self.cached("archive", self.archive.islands)
        return result

    def warm_up(self) -> None:
        """Read the whole run once (the archive replay and the statistics), so that the
        first page a user opens does not pay for it."""
        self.overview()
        self.islands()
        self.operators()


class RunSet:
    """Several runs, addressed by their position in the command line (0, 1, ...)."""

    def __init__(self, run_dirs: Sequence[Path]) -> None:
        self.runs = [ServedRun(run_dir) for run_dir in run_dirs]

    def warm_up_in_background(self) -> threading.Thread:
        """Start :meth:`ServedRun.warm_up` of every run in a daemon thread."""

        def warm() -> None:
            for run in self.runs:
                run.warm_up()

        thread = threading.Thread(target=warm, name="evoforge-warm-up", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        for run in self.runs:
            run.reader.close()

    def get(self, index: int) -> ServedRun | None:
        """Run ``index``, reopened first if it was replaced (:meth:`ServedRun.refresh`)."""
        if not 0 <= index < len(self.runs):
            return None
        run = self.runs[index]
        run.refresh()
        return run

    def listing(self) -> list[dict[str, Any]]:
        """Every run: index, name, problem, best score, programs, stop reason, and who
        drives it now (``running_in``)."""
        rows = []
        for index, run in enumerate(self.runs):
            run.refresh()
            data = run.overview()
            rows.append(
                {
                    "index": index,
                    "run": data["run"],
                    "problem": data["problem"],
                    "best_score": data["best_score"],
                    "programs": data["programs"],
                    "stop_reason": data["stop_reason"],
                    "running_in": data["running_in"],
                }
            )
        return rows

    def compare(self) -> list[dict[str, Any]]:
        """The best-score curve of every run, for one chart."""
        result = []
        for index, run in enumerate(self.runs):
            run.refresh()
            data = run.overview()
            result.append(
                {
                    "index": index,
                    "run": data["run"],
                    "problem": data["problem"],
                    "best_score": data["best_score"],
                    "curve": data["best_curve"],
                }
            )
        return result
