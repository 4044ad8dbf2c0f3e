"""Starting runs: a start that fails leaves nothing behind, and never tidies a directory
another process has started a run in."""

from __future__ import annotations

from pathlib import Path

import pytest

import evoforge.runs
from evoforge.engine import EngineError
from evoforge.runs import RunLock, RunLockedError, start_run
from evoforge.storage.db import DatabaseError
from tests.problem_files import write_problem

PROGRAM = "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
SCORING = "def evaluate(program_path):\n    return {'combined_score': 1.0}\n"
FAILING = "def evaluate(program_path):\n    raise RuntimeError('broken')\n"


def test_a_failed_start_is_tidied_while_it_still_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tidied after the lock was let go, a failed start would remove the problem copy (and
    the lock file) of a run that another process had just started in the directory."""
    problem = write_problem(tmp_path / "problem", program=PROGRAM, evaluator=FAILING)
    run_dir = tmp_path / "run"
    held_while_tidying: list[bool] = []
    tidy = evoforge.runs._tidy_failed_start

    def tidy_checking_the_lock(directory: Path, made: bool, lock_was_there: bool) -> None:
        other = RunLock(run_dir)  # another process's lock: a second open file
        try:
            other.acquire()
        except RunLockedError:
            held_while_tidying.append(True)
        else:
            other.release()
            held_while_tidying.append(False)
        tidy(directory, made, lock_was_there)

    monkeypatch.setattr(evoforge.runs, "_tidy_failed_start", tidy_checking_the_lock)
    with pytest.raises(EngineError, match="seed program did not score"):
        start_run(problem, run_dir=run_dir, cli_layer={"run": {"workers": 1}})
    assert held_while_tidying == [True]
    assert not run_dir.exists()


def test_a_start_whose_database_cannot_be_made_leaves_nothing_and_says_why(
    tmp_path: Path,
) -> None:
    """SQLite opens no path longer than 504 bytes: the run directory such a start made
    (with the problem copy and the lock) is removed, and the error says what is wrong."""
    problem = write_problem(tmp_path / "problem", program=PROGRAM, evaluator=SCORING)
    deep = tmp_path.joinpath(*["d" * 100] * 5)
    run_dir = deep / "run"
    with pytest.raises(DatabaseError, match=r"bytes long, more than SQLite opens \(504\)") as error:
        start_run(problem, run_dir=run_dir, cli_layer={"run": {"workers": 1}})
    assert "\n" not in str(error.value)
    assert deep.is_dir() and not run_dir.exists()


def test_a_run_directory_that_is_a_file_is_refused_saying_so(tmp_path: Path) -> None:
    problem = write_problem(tmp_path / "problem", program=PROGRAM, evaluator=SCORING)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(EngineError, match=r"notes\.txt is a file, not a run directory$"):
        start_run(problem, run_dir=tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_start_from_a_deleted_directory_without_out_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = write_problem(tmp_path / "problem", program=PROGRAM, evaluator=SCORING)
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(EngineError, match=r"^the current directory no longer exists"):
        start_run(problem)
