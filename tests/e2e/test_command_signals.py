"""Every command, not only ``run`` and ``resume``, stops the same way on SIGINT, SIGTERM
and SIGHUP: one line on stderr that says what was kept, no traceback, the process ended
by SIGINT (a shell's 130), and no file left half-written."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import evoforge_command, run_cli

#: A safety net for waits on events that come within seconds; never an assertion.
PATIENCE_S = 180


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short finished run of the curve-fit problem, with something to export."""
    base = tmp_path_factory.mktemp("command_signals")
    problem = Path(__file__).parent / "problems" / "curve_fit"
    run_dir = base / "run"
    done = run_cli(  # one worker: the same run, with the same examples, every time
        "run",
        str(problem),
        "--iterations",
        "12",
        "--workers",
        "1",
        "--out",
        str(run_dir),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    return run_dir


def _stopped(process: subprocess.Popen[str], sig: signal.Signals) -> str:
    """Send ``sig`` to ``process``, wait for it to end, and return its stderr."""
    process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return stderr


def _wait_for_line(process: subprocess.Popen[str], start: str) -> None:
    """Read ``process``'s stdout until a line that begins with ``start``."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(start):
            return
    pytest.fail(f"the command ended without printing {start!r}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("command", "ready"),
    [("serve", "open: "), ("oracle", "evoforge oracle listening")],
    ids=["serve", "oracle"],
)
def test_a_server_ends_as_an_interrupted_command(
    finished_run: Path, command: str, ready: str, sig: signal.Signals
) -> None:
    """``serve`` and ``oracle`` run until stopped; stopped, they end as every other
    interrupted command does (they ended with status 0, or by SIGTERM itself)."""
    args = [command, str(finished_run)] if command == "serve" else [command]
    process = subprocess.Popen(
        evoforge_command(*args, "--port", "0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_line(process, ready)
    stderr = _stopped(process, sig)
    assert process.returncode == -signal.SIGINT, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("warning:")]
    assert lines == [lines[0]] and lines[0].startswith(f"evoforge {command}: interrupted"), stderr


#: ``evoforge export`` with a hook that, once the first record is being written, says so
#: in a file and waits for a signal: the moment a kill finds a half-written export.
_EXPORT_HELD_MIDWAY = """
import signal, sys
from pathlib import Path
import evoforge.export.pipeline as pipeline
from evoforge.__main__ import main

ready, json_line = Path(sys.argv.pop(1)), pipeline.json_line

def held(record):
    if not ready.exists():
        ready.write_text("writing")
        signal.pause()
    return json_line(record)

pipeline.json_line = held
sys.argv[0] = "evoforge"
sys.exit(main())
"""


def _export_held_midway(
    run_dir: Path, out: Path, ready: Path
) -> tuple[subprocess.Popen[str], list[str]]:
    """An ``evoforge export`` of ``run_dir`` into ``out`` (and its arguments), started and
    waited for until it holds mid-way through writing (``ready`` exists)."""
    export = ["export", str(run_dir), "--format", "sft", "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-c", _EXPORT_HELD_MIDWAY, str(ready), *export],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + PATIENCE_S
    while not ready.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the export wrote nothing"
        time.sleep(0.02)
    return process, export


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_while_export_writes_leaves_no_part(
    finished_run: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    """A kill (SIGTERM) or a closed terminal (SIGHUP) while an export is written removes
    its staged file, as Ctrl-C does, and says so (by default the process ended at once and
    left the staged file beside the export)."""
    out = tmp_path / "export"
    process, _ = _export_held_midway(finished_run, out, tmp_path / "ready")
    stderr = _stopped(process, sig)
    assert process.returncode == -signal.SIGINT, stderr
    assert stderr.splitlines() == [
        f"evoforge export: interrupted; an export in {out} is whole only with its card "
        "(README.md), and the same command writes it again"
    ]
    assert sorted(path.name for path in out.iterdir()) == []


def test_an_export_killed_as_it_wrote_is_written_again_by_the_same_command(
    finished_run: Path, tmp_path: Path
) -> None:
    """``kill -9`` while an export is written leaves its staged file in ``--out``; the
    same command then writes the export (it refused: "--out holds other files")."""
    out = tmp_path / "export"
    process, export = _export_held_midway(finished_run, out, tmp_path / "ready")
    process.kill()
    process.wait()
    assert [path.name for path in out.iterdir() if path.name.endswith(".tmp")], "nothing left"
    again = run_cli(*export)
    assert again.returncode == 0, again.stderr
    names = sorted(path.name for path in out.iterdir())
    assert "README.md" in names and not [name for name in names if name.startswith(".")], names


#: ``evoforge run`` with a hook that, as the run closes, says so in a file and waits for
#: a signal: the moment a second signal finds a run that has stopped and not yet ended.
_RUN_HELD_CLOSING = """
import signal, sys
from pathlib import Path
import evoforge.engine as engine
from evoforge.__main__ import main

ready, close = Path(sys.argv.pop(1)), engine.Engine.close

def held(self):
    try:
        if not ready.exists():
            ready.write_text("closing")
            signal.pause()
    finally:
        close(self)

engine.Engine.close = held
sys.argv[0] = "evoforge"
sys.exit(main())
"""


def test_a_second_signal_as_the_run_ends_says_how_to_go_on(curve_fit: Path, tmp_path: Path) -> None:
    """A second signal after the run has stopped, while it closes, ends the command: its
    last line says what was kept and how to go on (it said only "evoforge: interrupted")."""
    run_dir = tmp_path / "run"
    ready = tmp_path / "ready"
    run = ["run", str(curve_fit), "--iterations", "400", "--out", str(run_dir), "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_HELD_CLOSING, str(ready), *run],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + PATIENCE_S
    while _programs(run_dir) < 4:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run committed nothing"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    while not ready.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not close"
        time.sleep(0.02)
    stderr = _stopped(process, signal.SIGTERM)
    assert process.returncode == -signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (
        f"evoforge run: interrupted; its committed steps are kept, and "
        f"'evoforge resume {run_dir}' continues the run"
    )
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert status["stop_reason"] == "interrupted"


def _programs(run_dir: Path) -> int:
    """How many programs the run has committed (0 while it has no database)."""
    try:
        with contextlib.closing(sqlite3.connect(run_dir / "run.sqlite", timeout=5)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM programs").fetchone()[0])
    except sqlite3.OperationalError:  # not made yet
        return 0
