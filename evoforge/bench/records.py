"""One benchmark run's record, and the ``runs.jsonl`` file that holds them.

``runs.jsonl`` is append-only and written by the harness process alone (never by the
run processes), one JSON object a line. A run counts as finished when its latest record
has ``status == "ok"``; ``skipped`` and ``failed`` records say why a run produced no
score and are retried by the next invocation. Readers take the latest record per key,
so a retried run simply supersedes its earlier line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RUNS_FILENAME = "runs.jsonl"

STATUS_OK = "ok"
STATUS_SKIPPED = "skipped"
STATUS_FAILED = "failed"

RunKey = tuple[str, str, int, int]


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one (problem, engine, seed) run under an evaluation budget.

    ``trajectory[i]`` is the best score after ``i + 1`` evaluations (``None`` while no
    evaluation has scored yet); the seed program's evaluation is the first. ``revision``
    names the evoforge source that ran it (see :func:`evoforge.bench.harness.source_revision`),
    so a suite finished over several sessions says which code made which row.
    ``failed_evaluations`` counts the evaluations that gave no score (an error, a timeout,
    an answer the verifier rejected); ``None`` in records written before it was kept.
    ``best_code`` is the program that scored ``best_score`` (as evoforge's evaluator scored
    it), so anyone can audit what won; empty in records written before it was kept.
    ``jobs``: how many runs the bench ran at once beside it (a report written later, with
    ``--report-only``, says that and not its own ``--jobs``). ``problem_files``: a
    fingerprint of the problem directory's files when it ran, so runs of a problem that
    was edited since are not mixed with new ones (empty in records written before).
    """

    problem: str
    engine: str
    seed: int
    budget: int
    status: str
    best_score: float | None = None
    initial_score: float | None = None
    evaluations: int = 0
    wall_time_s: float = 0.0
    stop_reason: str = ""
    trajectory: list[float | None] = field(default_factory=list)
    run_dir: str = ""
    reason: str = ""
    resumed: bool = False
    finished_at: float = 0.0
    revision: str = ""
    failed_evaluations: int | None = None
    best_code: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    jobs: int | None = None  # runs at once when it ran; None in records written before
    problem_files: str = ""

    @property
    def key(self) -> RunKey:
        return (self.problem, self.engine, self.seed, self.budget)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{name: value for name, value in data.items() if name in known})


def run_key(problem: str, engine: str, seed: int, budget: int) -> RunKey:
    return (problem, engine, seed, budget)


def read_records(path: Path) -> dict[RunKey, RunRecord]:
    """The latest record per run key. A torn last line (a crash mid-write) is ignored."""
    latest: dict[RunKey, RunRecord] = {}
    if not path.is_file():
        return latest
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = RunRecord.from_dict(json.loads(line))
            except (ValueError, TypeError):
                continue
            latest[record.key] = record
    return latest


def append_records(path: Path, records: Iterable[RunRecord]) -> None:
    """Append records durably (flushed and fsynced before returning). A torn last line
    (a crash mid-write) is ended first, so the first new record starts a line of its own
    instead of being read as part of the torn one (and lost)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as probe:
        probe.seek(0, os.SEEK_END)
        torn = False
        if probe.tell() > 0:
            probe.seek(-1, os.SEEK_END)
            torn = probe.read(1) != b"\n"
    with open(path, "a", encoding="utf-8") as handle:
        if torn:
            handle.write("\n")
        for record in records:
            handle.write(record.to_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def count_failed(scores: Iterable[float | None]) -> int:
    """How many per-evaluation scores are ``None`` (the evaluation did not score)."""
    return sum(1 for score in scores if score is None)


def best_so_far(scores: Iterable[float | None]) -> list[float | None]:
    """Running maximum of per-evaluation scores (``None``: that evaluation did not score)."""
    best: float | None = None
    trajectory: list[float | None] = []
    for score in scores:
        if score is not None and (best is None or score > best):
            best = score
        trajectory.append(best)
    return trajectory
