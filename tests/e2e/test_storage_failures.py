"""The run directory on a full disk or a read-only filesystem, and a damaged database.

Each ends with one readable line and exit status 2; what was committed stays committed.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import evoforge_command, run_cli


@contextlib.contextmanager
def small_tmpfs(target: Path, size: str) -> Iterator[Path]:
    """A private tmpfs of ``size`` at ``target``; skips the test where mounting is not allowed."""
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def _count(db_path: Path, *, read_only: bool = False) -> int:
    target = f"file:{db_path}?immutable=1" if read_only else str(db_path)
    with contextlib.closing(sqlite3.connect(target, uri=read_only)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(conn.execute("SELECT COUNT(*) FROM programs").fetchone()[0])


@pytest.fixture
def finished_run(curve_fit: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    done = run_cli("run", str(curve_fit), "--iterations", "4", "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    return run_dir


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_disk_is_a_clear_error_and_keeps_what_was_committed(
    curve_fit: Path, tmp_path: Path
) -> None:
    with small_tmpfs(tmp_path / "small", "600k") as mount:
        run_dir = mount / "run"
        done = run_cli(
            "run", str(curve_fit), "--iterations", "5000", "--out", str(run_dir), "--quiet"
        )
        line = _one_line(done)
        assert "full" in line, line
        assert _count(run_dir / "run.sqlite") >= 1


@pytest.mark.skipif(os.geteuid() != 0, reason="remounting needs root")
def test_read_only_run_directory_is_a_clear_error(curve_fit: Path, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro", "8m") as mount:
        run_dir = mount / "run"
        done = run_cli("run", str(curve_fit), "--iterations", "3", "--out", str(run_dir), "--quiet")
        assert done.returncode == 0, done.stderr
        before = _count(run_dir / "run.sqlite")
        remount = subprocess.run(
            ["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True, check=False
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        line = _one_line(run_cli("resume", str(run_dir), "--iterations", "3", "--quiet"))
        assert "Read-only file system" in line or "readonly" in line, line
        assert _count(run_dir / "run.sqlite", read_only=True) == before


def test_truncated_database_is_a_clear_error(finished_run: Path) -> None:
    db_path = finished_run / "run.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    size = db_path.stat().st_size
    with open(db_path, "r+b") as handle:
        handle.truncate(size // 3)
    for command in ("status", "resume", "best"):
        line = _one_line(run_cli(command, str(finished_run)))
        assert "run database" in line, line


def test_garbage_database_is_a_clear_error(finished_run: Path) -> None:
    db_path = finished_run / "run.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db_path.write_bytes(os.urandom(64 * 1024))
    for command in ("status", "resume", "best"):
        line = _one_line(run_cli(command, str(finished_run)))
        assert "corrupt" in line or "not a database" in line, line


def test_corrupted_pages_are_a_clear_error(finished_run: Path) -> None:
    db_path = finished_run / "run.sqlite"
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db_path.read_bytes())
    page = 4096
    for offset in range(page, len(data), page):  # keep the header page, scramble the rest
        data[offset : offset + 64] = os.urandom(64)  # b-tree page headers and cell pointers
    db_path.write_bytes(bytes(data))
    line = _one_line(run_cli("resume", str(finished_run)))
    assert "run database" in line, line


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_run_on_a_full_disk_is_read_and_said_to_be_on_a_full_disk(
    finished_run: Path, tmp_path: Path
) -> None:
    """On a full disk SQLite cannot make the files it reads a database with and says only
    "disk I/O error": the reading commands read the run all the same, and the others say
    the disk is full (they said the run database was unreadable or corrupt)."""
    with small_tmpfs(tmp_path / "small", "4m") as mount:
        run_dir = mount / "run"
        shutil.copytree(finished_run, run_dir)
        with open(mount / "filler", "wb") as filler, contextlib.suppress(OSError):
            while True:  # until the disk is full
                filler.write(b"\0" * 65536)
                filler.flush()
        status = run_cli("status", str(run_dir), "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["programs"] == 5
        line = _one_line(run_cli("resume", str(run_dir), "--iterations", "3", "--quiet"))
        assert "the disk holding it is full" in line, line
        line = _one_line(run_cli("report", str(run_dir)))
        assert line.endswith(f"No space left on device: {run_dir / 'report.html'}"), line
        assert not (run_dir / "report.html").exists()


def _under_file_size_limit(
    arguments: tuple[str, ...], soft: int, hard: int
) -> subprocess.CompletedProcess[str]:
    """``evoforge ARGUMENTS`` run to its end under a file-size limit (``ulimit -f``)."""

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    return subprocess.run(
        evoforge_command(*arguments),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit_file_size,
        timeout=300,
        check=False,
    )


def test_best_written_to_a_file_is_whole_or_the_old_file_is_kept(
    finished_run: Path, tmp_path: Path
) -> None:
    """``best -o`` that cannot write the whole program (a file-size limit here, a full
    disk elsewhere) leaves the file there was, not the part that fitted."""
    target = tmp_path / "best.py"
    target.write_text("# the best of an earlier run\n", encoding="utf-8")
    code = json.loads(run_cli("best", str(finished_run), "--json").stdout)["code"]
    limit = len(code.encode()) // 2
    # a reader kept open keeps the database's shared-memory file at its full size, which
    # the command, under that limit, could not make
    with contextlib.closing(sqlite3.connect(finished_run / "run.sqlite")) as reader:
        reader.execute("SELECT COUNT(*) FROM programs").fetchone()
        done = _under_file_size_limit(
            ("best", str(finished_run), "-o", str(target)), limit, resource.RLIM_INFINITY
        )
    line = _one_line(done)
    assert str(target) in line, line
    assert target.read_text(encoding="utf-8") == "# the best of an earlier run\n"
    assert not list(tmp_path.glob(".best.py*")), "the staged file is removed"


def test_a_file_size_ulimit_below_the_sandbox_limit_is_named(
    curve_fit: Path, tmp_path: Path
) -> None:
    """Started under ``ulimit -f`` lower than the candidates' file-size limit, which the
    sandbox could not set, the run is refused before it starts: the one line names the
    setting, the limit met and what to change."""
    limit = 4 << 20  # room for the run database, less than the sandbox's 64 MiB
    done = _under_file_size_limit(
        ("run", str(curve_fit), "--out", str(tmp_path / "run"), "--quiet"), limit, limit
    )
    line = _one_line(done)
    assert "evaluator.max_file_size_mb asks for 64 MiB" in line, line
    assert "file-size limit of 4 MiB (ulimit -f)" in line, line
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_init_on_a_full_disk_leaves_no_half_problem_and_names_the_directory(
    tmp_path: Path,
) -> None:
    """The template's four files do not fit in two pages: one line naming the directory,
    nothing left behind, and the same command works once there is room."""
    with small_tmpfs(tmp_path / "disk", "8k") as disk:
        done = run_cli("init", str(disk / "mine"))
        line = _one_line(done)
        assert f"evoforge init: cannot write {disk / 'mine'}: No space left on device" in line
        assert list(disk.iterdir()) == []
    again = run_cli("init", str(tmp_path / "disk" / "mine"))
    assert again.returncode == 0, again.stderr
    written = sorted(path.name for path in (tmp_path / "disk" / "mine").iterdir())
    assert written == ["README.md", "config.yaml", "evaluator.py", "initial_program.py"]
