"""The command in a terminal and out of one: locales that cannot show every character,
output to files and pipes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import PROBLEMS, evoforge_command, run_cli


def _ascii_locale() -> dict[str, str]:
    """The environment of a shell whose locale is plain ASCII (``LC_ALL=C``, and Python
    neither coercing it to UTF-8 nor in UTF-8 mode)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LC_", "PYTHONIOENCODING", "PYTHONUTF8"))
    }
    env.update(LANG="C", LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    return env


@pytest.fixture(scope="module")
def non_ascii_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run (the seed only) whose program holds characters outside ASCII."""
    root = tmp_path_factory.mktemp("non_ascii")
    problem = root / "problem"
    shutil.copytree(PROBLEMS / "curve_fit", problem)
    seed = problem / "initial_program.py"
    text = seed.read_text(encoding="utf-8")
    seed.write_text('"""Fit y \u2248 a\u00b7x + b (\u03c0 not needed)."""\n' + text, "utf-8")
    run_dir = root / "run"
    done = run_cli("run", str(problem), "--iterations", "0", "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    return run_dir


@pytest.mark.parametrize(
    "args",
    [("best",), ("show", "seed"), ("status",), ("config", "--reference")],
    ids=["best", "show", "status", "config"],
)
def test_an_ascii_locale_gets_escapes_not_a_traceback(
    non_ascii_run: Path, args: tuple[str, ...]
) -> None:
    argv = [args[0], str(non_ascii_run), *args[1:]] if args[0] != "config" else list(args)
    done = subprocess.run(
        evoforge_command(*argv),
        capture_output=True,
        env=_ascii_locale(),
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")
    assert b"Traceback" not in done.stderr
    done.stdout.decode("ascii")  # nothing but ASCII reached the ASCII terminal
    if args[0] in ("best", "show"):
        assert b"Fit y \\u2248 a\\xb7x + b (\\u03c0 not needed)." in done.stdout


def test_a_run_logged_to_a_file_has_plain_progress_lines(curve_fit: Path, tmp_path: Path) -> None:
    """``evoforge run ... > log 2>&1``: no bar redrawn with control characters, but a
    progress line at each tenth of the budget, and the result with where the run is."""
    run_dir = tmp_path / "run"
    log = tmp_path / "log"
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            evoforge_command("run", str(curve_fit), "--iterations", "20", "--out", str(run_dir)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
    text = log.read_text(encoding="utf-8")
    assert done.returncode == 0, text
    assert "\x1b" not in text and "\r" not in text
    counts = [
        int(line.split()[1].split("/")[0])
        for line in text.splitlines()
        if line.startswith("evolving: ")
    ]
    assert len(counts) >= 5, text
    assert counts == sorted(set(counts)) and counts[-1] == 20, text
    assert "evolving: 20/20 iterations, best " in text
    assert text.rstrip().endswith(f"run in {run_dir}")
    # failures are evaluations without a score; refused, children never evaluated
    last = [line for line in text.splitlines() if line.startswith("evolving: 20/20")][-1]
    shown = re.search(r", failures (\d+), refused (\d+), ", last)
    assert shown is not None, last
    status = subprocess.run(
        evoforge_command("status", str(run_dir), "--json"), capture_output=True, check=True
    )
    counts = json.loads(status.stdout)["failures"]
    refused = counts.pop("rejected", 0)
    assert (int(shown.group(1)), int(shown.group(2))) == (sum(counts.values()), refused)
