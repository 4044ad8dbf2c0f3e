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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoforge.report.archive_view import ArchiveReplay
from evoforge.report.reader import RunReader
from evoforge.report.tracker import RunTracker


@dataclass
class ServedRun:
    """One run directory being served: its reader, archive replay and answer cache."""

    reader: RunReader
    archive: ArchiveReplay
    tracker: RunTracker
    _cache: dict[str, tuple[dict[str, int], Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
        """The overview answer (cached)."""
        result: dict[str, Any] = self.cached("overview", self.tracker.overview)
        return result

    def operators(self) -> dict[str, Any]:
        """The operators answer (cached)."""
        result: dict[str, Any] = self.cached("operators", self.tracker.operators)
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
        self.runs: list[ServedRun] = []
        for run_dir in run_dirs:
            reader = RunReader(run_dir)
            self.runs.append(
                ServedRun(reader=reader, archive=ArchiveReplay(reader), tracker=RunTracker(reader))
            )

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
        return self.runs[index] if 0 <= index < len(self.runs) else None

    def listing(self) -> list[dict[str, Any]]:
        """Every run: index, name, problem, best score, programs, stop reason."""
        rows = []
        for index, run in enumerate(self.runs):
            data = run.overview()
            rows.append(
                {
                    "index": index,
                    "run": data["run"],
                    "problem": data["problem"],
                    "best_score": data["best_score"],
                    "programs": data["programs"],
                    "stop_reason": data["stop_reason"],
                }
            )
        return rows

    def compare(self) -> list[dict[str, Any]]:
        """The best-score curve of every run, for one chart."""
        result = []
        for index, run in enumerate(self.runs):
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
