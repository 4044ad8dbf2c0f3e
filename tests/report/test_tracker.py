"""Folding in new steps gives the same answers as reading the whole run at once."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from evoforge.report.archive_view import ArchiveReplay
from evoforge.report.reader import RunReader
from evoforge.report.tracker import RunTracker, choice_probabilities
from evoforge.storage.db import RunDatabase


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
    whole = RunReader(small_run)
    try:
        fresh = (RunTracker(whole).overview(), RunTracker(whole).operators())
        fresh_islands = ArchiveReplay(whole).islands()
    finally:
        whole.close()
    assert folded[0] | {"run": "-"} == fresh[0] | {"run": "-"}
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
    whole = RunReader(small_run)
    try:
        fresh = ArchiveReplay(whole).islands()
    finally:
        whole.close()
    assert during == before
    assert after == fresh
