"""Signals from a terminal, a shell or a service manager: the command stops cleanly, says
so in one line, and ends as a shell expects of it."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from .conftest import run_cli

#: A safety net for waits on events that come within seconds; never an assertion.
PATIENCE_S = 180


def _programs(run_dir: Path) -> int:
    """How many programs the run has committed (0 while it has no database)."""
    if not (run_dir / "run.sqlite").exists():
        return 0
    try:
        with sqlite3.connect(run_dir / "run.sqlite", timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM programs").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def _wait_for_programs(run_dir: Path, count: int, process: subprocess.Popen[str]) -> None:
    """Wait until the run in ``process`` has committed ``count`` programs."""
    deadline = time.monotonic() + PATIENCE_S
    while _programs(run_dir) < count:
        assert process.poll() is None, "the run ended before it could be signalled"
        assert time.monotonic() < deadline, "the run committed nothing"
        time.sleep(0.05)


def test_ctrl_c_stops_the_shell_script_that_ran_the_run(curve_fit: Path, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the terminal's whole process group) stops the run and the script
    around it: the command ends by SIGINT, so the shell does not go on to its next line."""
    run_dir = tmp_path / "run"
    script = (
        f'"{sys.executable}" -m evoforge run "{curve_fit}" --iterations 2000 '
        f'--out "{run_dir}" --quiet; echo "the script went on: $?"'
    )
    shell = subprocess.Popen(
        ["bash", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        _wait_for_programs(run_dir, 4, shell)
        os.killpg(shell.pid, signal.SIGINT)
        out, err = shell.communicate(timeout=PATIENCE_S)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    assert "the script went on" not in out, err
    assert shell.returncode == -signal.SIGINT
    assert "Traceback" not in err
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert status["stop_reason"] == "interrupted"


def test_ctrl_c_while_the_command_loads_is_one_line(tmp_path: Path) -> None:
    """A Ctrl-C before the command has loaded its modules: one line, no traceback."""
    stub = tmp_path / "stub" / "yaml"  # a module the command imports as it loads
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(stub.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "evoforge", "status", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=PATIENCE_S,
        check=False,
    )
    assert done.stderr == "evoforge: interrupted\n"
    assert done.returncode == -signal.SIGINT


class _Terminal:
    """A pseudo-terminal whose output is read (and dropped) until :meth:`close` hangs it
    up, as closing a terminal window does."""

    def __init__(self) -> None:
        self.controller, self.device = pty.openpty()
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._closing.is_set():
            ready, _, _ = select.select([self.controller], [], [], 0.1)
            if ready:
                try:
                    os.read(self.controller, 65536)
                except OSError:  # nothing is attached any more
                    return

    def close(self) -> None:
        """Hang up: the session on the terminal gets SIGHUP."""
        self._closing.set()
        self._reader.join()
        os.close(self.controller)


def _take_as_controlling_terminal() -> None:
    """In the child, a session leader: make its stdin (the terminal) its controlling
    terminal, as a login shell's terminal is."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _on_the_terminal(terminal: _Terminal, argv: list[str]) -> subprocess.Popen[bytes]:
    """``argv`` started as a terminal's session leader: ``terminal`` is its standard
    streams and its controlling terminal (this process keeps only the other end)."""
    process = subprocess.Popen(
        argv,
        stdin=terminal.device,
        stdout=terminal.device,
        stderr=terminal.device,
        start_new_session=True,
        preexec_fn=_take_as_controlling_terminal,
    )
    os.close(terminal.device)
    return process


def test_closing_the_terminal_stops_the_run_cleanly(curve_fit: Path, tmp_path: Path) -> None:
    """The terminal of a run closes (SIGHUP): the run stops as Ctrl-C stops it, the stop
    recorded (not killed midway), and it resumes."""
    run_dir = tmp_path / "run"
    terminal = _Terminal()
    command = [sys.executable, "-m", "evoforge", "run", str(curve_fit), "--out", str(run_dir)]
    process = _on_the_terminal(terminal, [*command, "--iterations", "2000"])
    try:
        _wait_for_programs(run_dir, 4, process)
        terminal.close()
        process.wait(timeout=PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGINT  # an interrupted command's end
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert status["stop_reason"] == "interrupted"
    resumed = run_cli("resume", str(run_dir), "--iterations", "2", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(run_cli("status", str(run_dir), "--json").stdout)["iterations"] == (
        status["iterations"] + 2
    )


_WRITES_AFTER_THE_HANGUP = """
import os, signal, sys, time
from evoforge.stop_signals import outliving_the_terminal

ready, go, done = sys.argv[1:4]
signal.signal(signal.SIGHUP, signal.SIG_IGN)  # only the writes in between are tried here
with outliving_the_terminal():
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.01)
    print("a progress line after the hangup", flush=True)
    sys.stderr.write("a note after the hangup\\n")
    sys.stderr.flush()
open(done, "w").close()
"""


def test_output_between_the_hangup_and_its_signal_is_dropped(tmp_path: Path) -> None:
    """The kernel hangs the terminal up before SIGHUP arrives: what the command writes in
    between fails with EIO, and must not end it (the signal stops it cleanly)."""
    terminal = _Terminal()
    ready, go, done = (tmp_path / name for name in ("ready", "go", "done"))
    process = _on_the_terminal(
        terminal,
        [sys.executable, "-c", _WRITES_AFTER_THE_HANGUP, str(ready), str(go), str(done)],
    )
    try:
        deadline = time.monotonic() + PATIENCE_S
        while not ready.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        terminal.close()
        go.touch()
        process.wait(timeout=PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert done.exists()
