"""``evoforge export`` as a user runs it: a summary line, and one error line with exit
status 2 for bad input."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import evoforge

from .conftest import CURVE_FIT, Run


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    return subprocess.run(
        [sys.executable, "-m", "evoforge.cli", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def seed_only_run(runs_dir: Path) -> Path:
    """A run with no children: nothing to select."""
    out = runs_dir / "seed-only"
    evoforge.run(CURVE_FIT, iterations=0, out=out)
    return out


def test_the_command_writes_the_files_and_the_card(circle_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "data"
    done = _cli(str(circle_run.directory), "--format", "sft", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sft: ") and "train" in done.stdout
    card = (out / "README.md").read_text()
    assert "| circles | circle_packing |" in card
    assert "| per_lineage | 64 |" in card and "## Share by operator" in card
    assert (out / "train.jsonl").is_file()
    again = _cli(
        str(circle_run.directory), "--format", "traces", "--out", str(out), "--reasoning", "keep"
    )
    assert again.returncode == 0, again.stderr
    card = (out / "README.md").read_text()
    assert "# evoforge traces dataset" in card and "| reasoning | keep |" in card


def _assert_usage_error(done: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_bad_input_is_one_line_and_exit_status_2(
    circle_run: Run, seed_only_run: Path, tmp_path: Path
) -> None:
    run = str(circle_run.directory)
    out = str(tmp_path / "out")
    _assert_usage_error(
        _cli(str(tmp_path / "missing"), "--format", "sft", "--out", out), "does not exist"
    )
    _assert_usage_error(_cli(str(tmp_path), "--format", "sft", "--out", out), "holds no run")
    _assert_usage_error(_cli(run, f"{run}/", "--format", "sft", "--out", out), "given twice")
    _assert_usage_error(_cli(run, "--format", "rlhf", "--out", out), "invalid choice")
    _assert_usage_error(_cli(run, "--format", "sft"), "--out")
    _assert_usage_error(
        _cli(run, "--format", "sft", "--out", out, "--validation", "0.9"), "--validation"
    )
    _assert_usage_error(
        _cli(run, "--format", "sft", "--out", out, "--margin", "abc"), "expected a number"
    )
    _assert_usage_error(
        _cli(str(seed_only_run), "--format", "sft", "--out", out), "no sft examples selected"
    )
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.sqlite").write_bytes(b"this is not a database" * 100)
    _assert_usage_error(_cli(str(corrupt), "--format", "sft", "--out", out), "corrupt")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    _assert_usage_error(_cli(run, "--format", "sft", "--out", str(busy)), "holds other files")
    assert (busy / "notes.txt").read_text() == "mine"


def test_a_run_still_running_is_exported_so_far_and_said_so(
    circle_run: Run, tmp_path: Path
) -> None:
    """Another process holds the run's lock (as a running ``evoforge run`` does)."""
    run_dir = tmp_path / "busy-run"
    shutil.copytree(circle_run.directory, run_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from evoforge.runs import RunLock; "
            "lock = RunLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); "
            "sys.stdin.read()",
            str(run_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = _cli(str(run_dir), "--format", "sft", "--out", str(tmp_path / "data"))
    finally:
        holder.communicate("", timeout=30)
    assert done.returncode == 0, done.stderr
    assert "busy-run is still running: exported so far" in done.stdout
    card = (tmp_path / "data" / "README.md").read_text()
    assert f"Run busy-run was still running (pid {holder.pid})" in card
    quiet = _cli(str(run_dir), "--format", "sft", "--out", str(tmp_path / "later"))
    assert "still running" not in quiet.stdout + (tmp_path / "later" / "README.md").read_text()


def _cli_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run ``evoforge export`` with its stderr on a pseudo-terminal: exit status and
    everything written there."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "evoforge.cli", "export", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's last writer is gone
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        status = process.wait(timeout=120)
    return status, b"".join(chunks).decode()


def test_progress_shows_on_a_terminal_and_is_gone_at_the_end(
    circle_run: Run, tmp_path: Path
) -> None:
    run = str(circle_run.directory)
    status, shown = _cli_on_a_terminal(run, "--format", "sft", "--out", str(tmp_path / "a"))
    assert status == 0
    assert "evoforge export: reading run circles (1/1)" in shown
    assert "evoforge export: writing " in shown
    assert shown.endswith("\r\x1b[K")
    status, shown = _cli_on_a_terminal(
        run, str(tmp_path), "--format", "sft", "--out", str(tmp_path / "b")
    )
    assert status == 2
    assert shown.split("\r\x1b[K")[-1].strip().startswith("evoforge: error: ")
