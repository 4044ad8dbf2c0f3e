"""A run on a read-only file system (a mount of another machine's results, an archive) can
be inspected: ``status``, ``best``, ``show``, ``report`` and ``export`` read it without
writing anything, or say in one line why they cannot.

The read-only mount is real: each command runs in its own user and mount namespace
(``unshare -rm``) in which the run's directory is bound read-only over itself, so even a
root user cannot write there. Where namespaces are not available the tests skip.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evoforge.storage.db import SCHEMA_VERSION, DatabaseError, RunDatabase

_MOUNT_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'


def _read_only(directory: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """``command`` run where ``directory`` is a read-only mount."""
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", _MOUNT_READ_ONLY, "sh", str(directory), *command],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _evoforge(directory: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return _read_only(directory, sys.executable, "-m", "evoforge.cli", *arguments)


def _contents(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def _copy(run: Path, tmp_path: Path) -> Path:
    """A copy of ``run`` in ``tmp_path`` as a closed run leaves it (no lock, no log)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("*.lock", "*-shm", "*-wal"))
    return copy


@pytest.fixture
def read_only_run(small_run: Path, tmp_path: Path) -> Path:
    """A copy of the small run whose directory the commands see read-only."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare command")
    run = _copy(small_run, tmp_path)
    probe = _read_only(run, "sh", "-c", 'touch "$0/written"', str(run))
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"no read-only mount in a user namespace here: {probe.stderr.strip()}")
    return run


def test_a_read_only_run_can_be_inspected(read_only_run: Path, tmp_path: Path) -> None:
    before = _contents(read_only_run)
    status = _evoforge(read_only_run, "status", str(read_only_run))
    assert status.returncode == 0, status.stderr
    assert "iterations" in status.stdout and "best" in status.stdout
    best = _evoforge(read_only_run, "best", str(read_only_run))
    assert best.returncode == 0, best.stderr
    assert best.stdout.startswith("best ")
    show = _evoforge(read_only_run, "show", str(read_only_run), "seed")
    assert show.returncode == 0 and "the seed program" in show.stdout, show.stderr
    page = tmp_path / "report.html"
    report = _evoforge(read_only_run, "report", str(read_only_run), "--out", str(page))
    assert report.returncode == 0 and page.stat().st_size > 0, report.stderr
    data = tmp_path / "data"
    export = _evoforge(
        read_only_run, "export", str(read_only_run), "--format", "sft", "--out", str(data)
    )
    assert export.returncode == 0 and (data / "README.md").is_file(), export.stderr
    assert _contents(read_only_run) == before


def test_resuming_a_read_only_run_says_why_in_one_line(read_only_run: Path) -> None:
    resume = _evoforge(read_only_run, "resume", str(read_only_run), "--iterations", "2")
    assert resume.returncode == 2
    lines = resume.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in resume.stderr
    assert "cannot be written (Read-only file system)" in lines[0]


def test_a_read_only_run_with_commits_in_its_log_says_why_it_cannot_be_read(
    read_only_run: Path, tmp_path: Path
) -> None:
    """A run that stopped without closing its database (killed) keeps its latest commits
    in the write-ahead log, which SQLite cannot read without writing beside it."""
    database = read_only_run / RunDatabase.FILENAME
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA wal_autocheckpoint=0")
        connection.execute("INSERT INTO meta (key, value) VALUES ('late', 'commit')")
        connection.commit()
        for name in (database.name, f"{database.name}-wal"):
            shutil.copyfile(read_only_run / name, crashed / name)
    finally:
        connection.close()
    assert (crashed / f"{database.name}-wal").stat().st_size > 0
    status = _evoforge(crashed, "status", str(crashed))
    assert status.returncode == 2
    lines = status.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in status.stderr
    assert "run.sqlite-wal" in lines[0] and "copy the run directory" in lines[0]


def test_read_only_opening_writes_nothing_and_refuses_writes(
    small_run: Path, tmp_path: Path
) -> None:
    run = _copy(small_run, tmp_path)
    database = run / RunDatabase.FILENAME
    content = database.read_bytes()
    db = RunDatabase(database, read_only=True)
    try:
        assert db.get_meta("schema_version") == str(SCHEMA_VERSION)
        with pytest.raises(DatabaseError, match="readonly"):
            db.set_state({"written": True})
    finally:
        db.close()
    assert database.read_bytes() == content


def test_an_older_database_is_not_read_where_it_cannot_be_brought_up_to_date(
    small_run: Path, tmp_path: Path
) -> None:
    run = _copy(small_run, tmp_path)
    database = run / RunDatabase.FILENAME
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION - 1),)
        )
    connection.close()
    with pytest.raises(DatabaseError, match="older evoforge"):
        RunDatabase(database, read_only=True)
