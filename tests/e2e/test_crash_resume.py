"""kill -9 in the middle of a run, then resume: nothing committed is lost or doubled."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from .conftest import evoforge_command, run_cli


def _committed(run_dir: Path) -> dict[str, tuple[str, str]]:
    db_path = run_dir / "run.sqlite"
    if not db_path.exists():
        return {}
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            rows = conn.execute("SELECT id, code_hash, status FROM programs").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {row[0]: (row[1], row[2]) for row in rows}


def test_kill_9_then_resume_completes_the_budget(curve_fit: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        evoforge_command(
            "run", str(curve_fit), "--iterations", "40", "--out", str(run_dir), "--quiet"
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(_committed(run_dir)) < 12 and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _committed(run_dir)
    assert 12 <= len(before) < 41

    done = run_cli("resume", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    after = _committed(run_dir)
    for program_id, record in before.items():
        assert after[program_id] == record
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert status["iterations"] == 40
    assert status["programs"] == 41
    assert status["stop_reason"] == "iterations budget reached"
    with sqlite3.connect(run_dir / "run.sqlite") as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM programs")]
        parents = {row[0] for row in conn.execute("SELECT parent_id FROM programs") if row[0]}
    assert len(ids) == len(set(ids))
    assert parents <= set(ids), "every parent of a recorded program is recorded"


def test_a_second_process_cannot_drive_the_same_run(curve_fit: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        evoforge_command(
            "run", str(curve_fit), "--iterations", "400", "--out", str(run_dir), "--quiet"
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(_committed(run_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run_cli("resume", str(run_dir))
        assert second.returncode == 2
        assert "in use" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def test_ctrl_c_stops_cleanly_and_the_run_resumes(curve_fit: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        evoforge_command(
            "run", str(curve_fit), "--iterations", "30", "--out", str(run_dir), "--quiet"
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(_committed(run_dir)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGINT, stderr  # a shell's 130
    assert "Traceback" not in stderr
    # one line: what was kept, and how to go on
    assert stdout.startswith("interrupted: best "), stdout
    assert stdout.endswith(f"run in {run_dir}; 'evoforge resume {run_dir}' continues it\n")
    interrupted = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert interrupted["stop_reason"] == "interrupted"
    assert interrupted["iterations"] < 30
    done = run_cli("resume", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    finished = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert finished["iterations"] == 30
    assert finished["stop_reason"] == "iterations budget reached"
