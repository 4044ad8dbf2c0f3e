"""Folding in new steps gives the same answers as reading the whole run at once."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import evoforge
from evoforge.report.archive_view import ArchiveReplay
from evoforge.report.reader import RunReader
from evoforge.report.tracker import RunTracker, choice_probabilities
from evoforge.running_time import SPANS_STATE
from evoforge.runs import resume_run
from evoforge.storage.db import RunDatabase

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "circle_packing"


def _copy_up_to(source: Path, target: Path, last_seq: int) -> None:
    shutil.copytree(source, target)
    conn = sqlite3.connect(target / RunDatabase.FILENAME)
    with conn:
        conn.execute("DELETE FROM programs WHERE seq > ?", (last_seq,))
        conn.execute("DELETE FROM events WHERE seq > ?", (last_seq,))
        conn.execute("DELETE FROM state WHERE key = 'stop_reason'")
    conn.close()


def _append_rest(source: Path, target: Path, last_seq: int) -> None:
    conn = sqlite3.connect(target / RunDatabase.FILENAME)
    conn.execute("ATTACH DATABASE ? AS original", (str(source / RunDatabase.FILENAME),))
    with conn:
        conn.execute(
            "INSERT INTO programs SELECT * FROM original.programs WHERE seq > ?", (last_seq,)
        )
        conn.execute("INSERT INTO events SELECT * FROM original.events WHERE seq > ?", (last_seq,))
        conn.execute("INSERT OR REPLACE INTO state SELECT * FROM original.state")
    conn.close()


def test_incremental_answers_equal_a_fresh_read(small_run: Path, tmp_path: Path) -> None:
    growing = tmp_path / "growing"
    _copy_up_to(small_run, growing, last_seq=15)
    reader = RunReader(growing)
    tracker = RunTracker(reader)
    replay = ArchiveReplay(reader)
    try:
        early = tracker.overview()
        assert early["programs"] == 16
        assert early["stop_reason"] is None
        replay.islands()
        tracker.operators()
        _append_rest(small_run, growing, last_seq=15)
        folded = (tracker.overview(), tracker.operators(), replay.islands())
    finally:
        reader.close()
    with RunReader(small_run) as whole:
        fresh = (RunTracker(whole).overview(), RunTracker(whole).operators())
        fresh_islands = ArchiveReplay(whole).islands()
    where = {"run": "-", "resume_command": "-"}  # the copy's directory, not the run's
    assert folded[0] | where == fresh[0] | where
    assert folded[1] == fresh[1]
    assert folded[2] == fresh_islands


def test_choice_probabilities_of_each_policy() -> None:
    records = {
        arm: {
            "uses": 4,
            "successes": wins,
            "total_reward": float(wins),
            "count": 4.0,
            "reward_sum": float(wins),
            "gain_sum": float(wins),
            "recent": [],
        }
        for arm, wins in (("a", 4), ("b", 0))
    }
    for policy in ("ucb1", "thompson", "exp3"):
        state = {"policy": policy, "arms": ["a", "b"], "step": 8, "records": records}
        probabilities = choice_probabilities(state, {"policy": policy})
        assert set(probabilities) == {"a", "b"}
        assert abs(sum(probabilities.values()) - 1.0) < 1e-9
        assert probabilities["a"] > probabilities["b"], policy
    assert choice_probabilities(None, None) == {}
    assert choice_probabilities({"policy": "ucb1", "arms": ["a"]}, {"policy": "exp3"}) == {}


def test_steps_committed_while_the_archive_is_read_are_replayed_later(
    small_run: Path, tmp_path: Path
) -> None:
    """The rest of the run is committed in the middle of a catch-up (between its reads):
    that catch-up sees none of it, the next one all of it, none is skipped."""
    growing = tmp_path / "growing"
    _copy_up_to(small_run, growing, last_seq=15)
    reader = RunReader(growing)
    replay = ArchiveReplay(reader)
    armed = [False]

    def commit_the_rest_mid_read(statement: str) -> None:
        if armed[0] and "kind = 'migration'" in statement:
            armed[0] = False
            _append_rest(small_run, growing, last_seq=15)

    try:
        before = replay.islands()
        reader._conn.set_trace_callback(commit_the_rest_mid_read)
        armed[0] = True
        during = replay.islands()
        assert not armed[0], "the catch-up never read the migrations"
        reader._conn.set_trace_callback(None)
        after = replay.islands()
    finally:
        reader.close()
    with RunReader(small_run) as whole:
        fresh = ArchiveReplay(whole).islands()
    assert during == before
    assert after == fresh


IDLE_S = 100_000.0
ROUNDED_TO_TENTHS = 0.05 + 1e-6
"""The wall-time budget's ``used`` is rounded to 0.1 s: half of that off, and a float's
error more (100002.25 reads 100002.3, 0.05 and a hair away)."""


def _days_earlier(run_dir: Path) -> None:
    """Move everything the run has stored IDLE_S seconds into the past, as if it had
    stopped that long ago."""
    conn = sqlite3.connect(run_dir / RunDatabase.FILENAME)
    with conn:
        conn.execute("UPDATE programs SET created_at = created_at - ?", (IDLE_S,))
        conn.execute("UPDATE events SET created_at = created_at - ?", (IDLE_S,))
        spans = json.loads(
            conn.execute("SELECT value FROM state WHERE key = ?", (SPANS_STATE,)).fetchone()[0]
        )
        moved = [[start - IDLE_S, end - IDLE_S] for start, end in spans]
        conn.execute("UPDATE state SET value = ? WHERE key = ?", (json.dumps(moved), SPANS_STATE))
    conn.close()


def test_time_between_a_stop_and_its_resume_is_not_running_time(tmp_path: Path) -> None:
    """Elapsed time, evaluations per second and the rate and time curves count the time
    the run was running; the wall-time budget shows the latest invocation's time."""
    run_dir = tmp_path / "run"
    evoforge.run(EXAMPLE, iterations=6, seed=5, workers=1, out=run_dir)
    _days_earlier(run_dir)
    resume_run(run_dir, extra_iterations=6, log_mode="quiet")
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        spans = db.get_state(SPANS_STATE)
        times = [step.program.created_at for step in db.steps()]
    finally:
        db.close()
    # each invocation recorded its span, and each span holds its own children
    assert len(spans) == 2 and all(end is not None and start <= end for start, end in spans)
    (first_start, first_end), (second_start, second_end) = spans
    assert first_end + IDLE_S / 2 < second_start
    assert all(first_start <= t <= first_end for t in times[1:7])
    assert all(second_start <= t <= second_end for t in times[7:])
    running = (first_end - first_start) + (second_end - second_start)
    with RunReader(run_dir) as reader:
        overview = RunTracker(reader).overview()
    assert overview["duration_s"] == pytest.approx(running, abs=1e-3)
    assert overview["evaluations_per_s"] == pytest.approx(
        overview["evaluations"] / running, rel=1e-3
    )
    assert overview["budgets"]["wall_time_s"]["used"] == pytest.approx(
        second_end - second_start, abs=ROUNDED_TO_TENTHS
    )
    assert max(point[1] for point in overview["best_curve"]) <= overview["duration_s"]
    assert sum(rate for _, rate in overview["rate_curve"]) > 0

    # a run recorded before invocations kept their spans reads as it always did
    conn = sqlite3.connect(run_dir / RunDatabase.FILENAME)
    with conn:
        conn.execute("DELETE FROM state WHERE key = ?", (SPANS_STATE,))
    conn.close()
    with RunReader(run_dir) as reader:
        older = RunTracker(reader).overview()
    assert older["duration_s"] == pytest.approx(times[-1] - times[0], abs=1e-3)
    assert older["budgets"]["wall_time_s"]["used"] == pytest.approx(
        older["duration_s"], abs=ROUNDED_TO_TENTHS
    )
