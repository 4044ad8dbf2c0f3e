"""SIGKILL at random moments, resume, and check that nothing committed is lost or doubled.

Each hypothesis example starts a real ``evoforge run`` of the curve-fit problem, kills it
with SIGKILL after a random number of committed steps plus a random delay, resumes it to
the end of its budget, and checks the invariants of the run database: every evaluation
committed before the kill is still there, unchanged and exactly once; the lineage is
closed (every parent is recorded); the bandit's per-operator uses equal the programs each
operator produced; and the best program is the same as before the kill or better.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoforge.engine import Engine

from .conftest import PROBLEMS, evoforge_command, run_cli

ITERATIONS = 16


def _final_pass_ids(run_dir: Path) -> list[str]:
    """Ids of the children made by the best's final simplification pass."""
    with sqlite3.connect(run_dir / "run.sqlite", timeout=5) as conn:
        rows = conn.execute("SELECT id FROM programs WHERE parent_source = 'final'").fetchall()
    return [row[0] for row in rows]


def _rows(run_dir: Path) -> list[tuple[str, str, str, str | None, float | None, str]]:
    db_path = run_dir / "run.sqlite"
    if not db_path.exists():
        return []
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            return conn.execute(
                "SELECT id, code_hash, status, parent_id, score, operator FROM programs"
            ).fetchall()
    except sqlite3.OperationalError:
        return []


def _best(rows: list[tuple[str, str, str, str | None, float | None, str]]) -> float | None:
    scores = [row[4] for row in rows if row[2] == "ok" and row[4] is not None]
    return max(scores) if scores else None


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps_before_kill=st.integers(min_value=1, max_value=ITERATIONS - 2),
    extra_delay_s=st.floats(min_value=0.0, max_value=0.3),
)
def test_sigkill_at_random_moments_then_resume(
    steps_before_kill: int, extra_delay_s: float
) -> None:
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="evoforge-crash-"))
    try:
        problem = base / "curve_fit"
        shutil.copytree(PROBLEMS / "curve_fit", problem)
        run_dir = base / "run"
        process = subprocess.Popen(
            evoforge_command(
                "run",
                str(problem),
                "--iterations",
                str(ITERATIONS),
                "--out",
                str(run_dir),
                "--quiet",
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(_rows(run_dir)) < steps_before_kill + 1 and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            time.sleep(0.01)
        time.sleep(extra_delay_s)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = _rows(run_dir)
        if not before:  # killed before the seed committed: nothing to resume
            return
        done = run_cli("resume", str(run_dir), "--quiet")
        assert done.returncode == 0, done.stderr
        after = _rows(run_dir)

        ids = [row[0] for row in after]
        assert len(ids) == len(set(ids)), "a step was recorded twice"
        assert len(ids) == ITERATIONS + 1, "the budget was not completed after resuming"
        by_id = {row[0]: row for row in after}
        for row in before:
            assert by_id[row[0]] == row, f"{row[0]} changed or vanished across the crash"
        assert {row[3] for row in after if row[3]} <= set(ids), "a parent is missing"
        best_before, best_after = _best(before), _best(after)
        assert best_before is not None and best_after is not None
        assert best_after >= best_before

        engine = Engine.open(run_dir)
        try:
            uses = {name: stats["uses"] for name, stats in engine.bandit.stats().items()}
        finally:
            engine.close()
        # the best's final simplification (parent source "final") is not an operator pick
        final = set(_final_pass_ids(run_dir))
        produced = Counter(row[5] for row in after if row[5] != "seed" and row[0] not in final)
        assert {name: count for name, count in uses.items() if count} == dict(produced)
    finally:
        shutil.rmtree(base, ignore_errors=True)
