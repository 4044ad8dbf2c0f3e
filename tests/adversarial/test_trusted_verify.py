"""A problem's ``verify(output)`` runs apart from the candidate: a candidate cannot report
its own score, nor hold the run with an output that stalls ``verify``.

The candidate runs in the same process as ``evaluate`` and patches everything it can
reach there: ``builtins.sum``, ``math``, the evaluator module and its ``verify``. None of it
changes the verdict, because ``verify`` runs in a process of evoforge's on the data
returned, within the evaluation's time limit.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.program import EvalStatus

EVALUATOR = '''
"""Points on the unit square; the score is the smallest pairwise distance."""
import importlib.util
import math


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"points": module.points()}  # the construction, not a score


def verify(output):
    points = [(float(x), float(y)) for x, y in output["points"]]
    if len(points) != 4:
        raise ValueError(f"expected 4 points, got {len(points)}")
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point {(x, y)} is outside the unit square")
    closest = min(
        math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2)
        for i, a in enumerate(points)
        for b in points[i + 1 :]
    )
    return {"combined_score": closest, "total": sum(x + y for x, y in points)}
'''

HONEST = """
def points():
    return [(0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5)]
"""

CHEATING = """
import builtins, math, sys

builtins.sum = lambda *args, **kwargs: 1e9
math.sqrt = lambda value: 1e9
math.fsum = lambda values: 1e9
for name, module in list(sys.modules.items()):
    if hasattr(module, "verify"):
        module.verify = lambda output: {"combined_score": 1e9}
    if hasattr(module, "stage_score"):  # the runner itself
        module.stage_score = lambda metrics: 1e9


def points():
    return [(0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5)]
"""


FORGING_THE_RECORD = """
import json

_dumps = json.dumps


def _forged(value, *args, **kwargs):  # the runner sends its outcome through json.dumps
    if isinstance(value, dict) and isinstance(value.get("stages"), list):
        for stage in value["stages"]:
            stage["metrics"] = {"combined_score": 1e9, "forged": 7.0}
    return _dumps(value, *args, **kwargs)


json.dumps = _forged


def points():
    return [(0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5)]
"""


def _evaluator_of(problem: Path, source: str, timeout_s: float = 3) -> ProblemEvaluator:
    """A judge for a problem directory ``problem`` whose ``evaluator.py`` is ``source``."""
    problem.mkdir()
    (problem / "evaluator.py").write_text(source)
    return ProblemEvaluator(problem / "evaluator.py", EvaluatorConfig(timeout_s=timeout_s))


@pytest.fixture
def verifying_evaluator(tmp_path: Path) -> ProblemEvaluator:
    problem = tmp_path / "problem"
    problem.mkdir()
    (problem / "evaluator.py").write_text(EVALUATOR)
    return ProblemEvaluator(problem / "evaluator.py", EvaluatorConfig(timeout_s=3, memory_mb=512))


def test_verify_scores_the_returned_construction(verifying_evaluator: ProblemEvaluator) -> None:
    assert verifying_evaluator.verifies
    result = verifying_evaluator.evaluate(HONEST)
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(0.5)
    assert result.metrics["total"] == pytest.approx(2.0)


def test_patching_the_evaluator_and_builtins_changes_nothing(
    verifying_evaluator: ProblemEvaluator,
) -> None:
    result = verifying_evaluator.evaluate(CHEATING)
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(0.5)
    assert result.metrics["total"] == pytest.approx(2.0)
    assert math.sqrt(4.0) == 2.0 and sum([1, 2]) == 3  # and the parent is untouched


def test_metrics_forged_into_the_runner_record_are_dropped(
    verifying_evaluator: ProblemEvaluator,
) -> None:
    """Sharing the runner's process, a candidate can rewrite the record the runner sends;
    only what ``verify`` says of the output counts, not a metric of the record."""
    result = verifying_evaluator.evaluate(FORGING_THE_RECORD)
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(0.5)
    assert set(result.metrics) == {"combined_score", "total"}


def test_verify_rejecting_the_output_fails(verifying_evaluator: ProblemEvaluator) -> None:
    result = verifying_evaluator.evaluate("def points():\n    return [(2.0, 0.0)] * 4\n")
    assert result.status is EvalStatus.FAILED
    assert result.reason.startswith("verify rejected the output: ValueError: point")


def test_output_that_is_not_data_fails_cleanly(verifying_evaluator: ProblemEvaluator) -> None:
    result = verifying_evaluator.evaluate("def points():\n    return object()\n")
    assert result.status is EvalStatus.FAILED
    assert "verify rejected the output" in result.reason


def test_verify_returning_nan_is_invalid(tmp_path: Path) -> None:
    evaluator = _evaluator_of(
        tmp_path / "nan_problem",
        "def evaluate(program_path):\n    return 1\n\n"
        "def verify(output):\n    return {'combined_score': float('nan')}\n",
    )
    result = evaluator.evaluate("x = 1\n")
    assert result.status is EvalStatus.INVALID
    assert "not finite" in result.reason


@pytest.mark.parametrize("code", ["0", "1", "'bad output'"])
def test_verify_calling_sys_exit_fails_the_child_and_not_the_run(tmp_path: Path, code: str) -> None:
    """A ``sys.exit`` in ``verify`` is the child's failure, never the end of the run."""
    evaluator = _evaluator_of(
        tmp_path / "exit_problem",
        "import sys\n\ndef evaluate(program_path):\n    return 1\n\n"
        f"def verify(output):\n    sys.exit({code})\n",
    )
    result = evaluator.evaluate("x = 1\n")
    assert result.status is EvalStatus.FAILED
    assert result.reason.startswith("verify rejected the output: SystemExit"), result.reason


def test_what_verify_prints_goes_to_stderr_never_to_evoforges_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """evoforge's standard output carries its own lines (``--jsonl`` events): a print in
    ``verify``, or in ``evaluator.py`` as imported for it, goes to standard error."""
    evaluator = _evaluator_of(
        tmp_path / "printing_problem",
        "print('importing the evaluator')\n\n"
        "def evaluate(program_path):\n    return 1\n\n"
        "def verify(output):\n    print('checking', output)\n"
        "    if output != 1:\n        raise ValueError('wrong')\n"
        "    return {'combined_score': 1.0}\n",
    )
    stdout = sys.stdout
    assert evaluator.evaluate("x = 1\n").status is EvalStatus.OK
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "importing the evaluator\nchecking 1\n" in captured.err
    assert sys.stdout is stdout  # put back


SLOW_VERIFY_EVALUATOR = """
import importlib.util


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.points()


def verify(output):
    points = [(float(x), float(y)) for x, y in output]
    closest = min(  # all pairs: a candidate that returns many points makes this slow
        ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
        for i, a in enumerate(points)
        for b in points[i + 1 :]
    )
    return {"combined_score": closest}
"""

MANY_POINTS = """
def points():
    return [(i * 1e-6, 0.0) for i in range(200_000)]  # 2e10 pairs for verify to check
"""

FOUR_POINTS = """
def points():
    return [(0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5)]
"""


def test_an_output_that_stalls_verify_fails_its_child_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """A candidate whose output makes the trusted ``verify`` run for hours holds nothing:
    ``verify`` gets the evaluation's time limit, its process is killed, and the next
    candidate is verified as before."""
    evaluator = _evaluator_of(tmp_path / "slow_verify", SLOW_VERIFY_EVALUATOR, timeout_s=2)
    try:
        stalled = evaluator.evaluate(MANY_POINTS)
        assert stalled.status is EvalStatus.FAILED
        assert "verify ran past its time limit of 2s" in stalled.reason, stalled.reason
        honest = evaluator.evaluate(FOUR_POINTS)
        assert honest.status is EvalStatus.OK, honest.reason
        assert honest.score == pytest.approx(0.5)
    finally:
        evaluator.close()


def test_a_verify_that_ends_its_process_fails_the_child_and_not_the_run(tmp_path: Path) -> None:
    evaluator = _evaluator_of(
        tmp_path / "exiting_verify",
        "import os\n\ndef evaluate(program_path):\n    return 1\n\n"
        "def verify(output):\n    if output == 1:\n        os._exit(3)\n"
        "    return {'combined_score': float(output)}\n",
    )
    try:
        ended = evaluator.evaluate("x = 1\n")
        assert ended.status is EvalStatus.FAILED
        assert "verify's process ended without a verdict (exit status 3)" in ended.reason
        again = evaluator.evaluate("x = 2\n")  # a fresh process: the same verdict
        assert "exit status 3" in again.reason
    finally:
        evaluator.close()


def test_a_verify_process_ends_when_its_driver_is_killed_mid_call(tmp_path: Path) -> None:
    """A driver killed with ``kill -9`` while ``verify`` runs leaves nothing behind: the
    verify process notices its parent has gone and ends, mid-call."""
    problem = tmp_path / "endless_verify"
    problem.mkdir()
    pid_file = tmp_path / "verify.pid"
    (problem / "evaluator.py").write_text(
        "import os, time\n\ndef evaluate(program_path):\n    return 1\n\n"
        f"def verify(output):\n    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    while True:\n        time.sleep(0.05)\n"
    )
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom pathlib import Path\n"
            "from evoforge.config import EvaluatorConfig\n"
            "from evoforge.evaluation.evaluator import ProblemEvaluator\n"
            "evaluator = ProblemEvaluator(Path(sys.argv[1]), EvaluatorConfig(timeout_s=600))\n"
            "evaluator.evaluate('x = 1')\n",
            str(problem / "evaluator.py"),
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        verifier = int(pid_file.read_text())
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while _running(verifier):
            assert time.monotonic() < deadline, "the verify process outlived its driver"
            time.sleep(0.05)
    finally:
        driver.kill()
        driver.wait()


def _running(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie waiting for its (new) parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_verify_process_killed_while_idle_is_replaced_without_a_lost_child(
    tmp_path: Path,
) -> None:
    evaluator = _evaluator_of(
        tmp_path / "idle_verify",
        "def evaluate(program_path):\n    return 1\n\n"
        "def verify(output):\n    return {'combined_score': float(output)}\n",
    )
    try:
        assert evaluator.evaluate("x = 1\n").score == 1.0
        verifiers = evaluator._verify_processes()
        (first,) = verifiers.pids
        os.kill(first, signal.SIGKILL)
        time.sleep(0.2)
        after = evaluator.evaluate("x = 2\n")
        assert after.status is EvalStatus.OK, after.reason
        assert verifiers.pids != [first]
    finally:
        evaluator.close()
