"""A templated run's working directory: its own tmpfs, nothing of it on the host's disk.

The parent stages a run in memory (the files' contents, stdout and stderr are memfds); the
run's C1 mounts a fresh tmpfs the size of the memory limit as the working directory before
the request comes, and the run's own process writes the files into it. What a run writes
there is bounded by its memory limit and goes with its mount namespace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.program import EvalStatus

from .conftest import MakeEvaluator

LOOK = """
import os


def look():
    info = os.statvfs(".")
    fstype = ""
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            if fields[4] == os.getcwd():
                fstype = fields[fields.index("-") + 1]  # the last mount there wins
    return {
        "files": sorted(os.listdir(".")),
        "size_mib": info.f_blocks * info.f_frsize / 2**20,
        "fstype": fstype,
    }
"""

WORKDIR_EVALUATOR = (
    LOOK
    + """

def evaluate_candidate(candidate):
    theirs, mine = candidate.look(), look()
    return {
        "combined_score": 1.0,
        "candidate_sees_its_program_alone": float(theirs["files"] == ["program.py"]),
        "candidate_tmpfs": float(theirs["fstype"] == "tmpfs"),
        "candidate_size_mib": theirs["size_mib"],
        "evaluator_sees_nothing": float(mine["files"] == []),
        "evaluator_tmpfs": float(mine["fstype"] == "tmpfs"),
    }
"""
)

FILL_PROGRAM = """
import os


def run():
    written = 0
    for index in range(1024):  # 1 GiB if nothing stopped it
        try:
            with open(f"fill-{index}", "wb") as handle:
                handle.write(b"x" * (1 << 20))
        except OSError:
            break
        written += 1
    return {"combined_score": float(written)}
"""


def _templated(evaluator: ProblemEvaluator) -> ProblemEvaluator:
    if evaluator.sandbox.filesystem != "mountns":
        pytest.skip("template processes need the jail (user and mount namespaces)")
    return evaluator


def test_each_side_works_in_a_tmpfs_of_its_own_holding_its_files_alone(
    make_evaluator: MakeEvaluator,
) -> None:
    evaluator = _templated(make_evaluator(WORKDIR_EVALUATOR, memory_mb=512, timeout_s=20.0))
    try:
        result = evaluator.evaluate(LOOK)
    finally:
        evaluator.close()
    assert result.status is EvalStatus.OK, result.reason
    metrics = result.metrics
    assert metrics["candidate_sees_its_program_alone"] == 1.0  # no __pycache__ either
    assert metrics["candidate_tmpfs"] == metrics["evaluator_tmpfs"] == 1.0
    assert metrics["candidate_size_mib"] == 512.0
    assert metrics["evaluator_sees_nothing"] == 1.0


def test_what_a_run_writes_is_bounded_by_its_memory_limit(make_evaluator: MakeEvaluator) -> None:
    evaluator = _templated(make_evaluator(memory_mb=256, timeout_s=20.0))
    try:
        result = evaluator.evaluate(FILL_PROGRAM)
    finally:
        evaluator.close()
    if result.status is EvalStatus.OK:  # the tmpfs filled up first
        assert 0 < result.score <= 256
    else:  # or the run's memory cgroup stopped it
        assert result.status is EvalStatus.FAILED
        assert "memory" in result.reason


def test_a_file_that_would_leave_the_working_directory_is_refused(
    make_evaluator: MakeEvaluator,
) -> None:
    evaluator = _templated(make_evaluator(timeout_s=20.0))
    template = evaluator._template("evaluator")
    try:
        for name in ("../escape.py", "/tmp/escape.py", "."):
            run = evaluator.sandbox.run(["runner"], files={name: "x"}, template=template)
            assert run.returncode is None
            assert run.error is not None and "leaves the working directory" in run.error
    finally:
        evaluator.close()


SHM_EVALUATOR = """
from pathlib import Path


def evaluate_candidate(candidate):
    value = float((Path(__file__).parent / "data" / "value.txt").read_text())
    return {"combined_score": value, "left_over": candidate.left_over()}
"""

SHM_PROGRAM = """
import os


def left_over():
    found = os.path.exists("/dev/shm/left-by-a-run")  # by an earlier evaluation
    open("/dev/shm/left-by-a-run", "w").close()
    return float(found)
"""


@pytest.fixture
def under_dev_shm() -> Iterator[Path]:
    """A directory on the host's ``/dev/shm``."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="evoforge-test-", dir="/dev/shm"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("temporary_files_there", [False, True])
def test_a_problem_and_the_temporary_files_on_dev_shm_stay_visible_to_the_evaluator(
    under_dev_shm: Path, temporary_files_there: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each evaluation gets a fresh ``/dev/shm``; a run directory (the problem copy the
    evaluator reads its data from) or ``TMPDIR`` (the templates' spools) on the host's
    ``/dev/shm`` must not be hidden by it."""
    if temporary_files_there:
        monkeypatch.setattr(tempfile, "tempdir", str(under_dev_shm))
    problem = under_dev_shm / "run dir" / "problem"
    (problem / "data").mkdir(parents=True)
    (problem / "evaluator.py").write_text(SHM_EVALUATOR)
    (problem / "data" / "value.txt").write_text("0.5")
    evaluator = _templated(ProblemEvaluator(problem / "evaluator.py", EvaluatorConfig()))
    try:
        results = [evaluator.evaluate(SHM_PROGRAM) for _ in range(2)]
    finally:
        evaluator.close()
    for result in results:
        assert result.status is EvalStatus.OK, result.reason
        assert result.score == 0.5
        assert result.metrics["left_over"] == 0.0  # each evaluation's /dev/shm is its own
