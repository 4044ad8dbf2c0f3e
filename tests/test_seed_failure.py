"""A seed that does not score stops ``evoforge run`` with one line that says where the
problem's own code failed and, for the common mistakes of a new problem, what to change.

Each case is a real start: the seed runs in the sandbox through a real evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy
import pytest

from evoforge.cli import main
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.seed_failure import slow_seed_notice, user_frame

PROGRAM = "# EVOLVE-BLOCK-START\ndef f(x):\n    return 0.5 * x + 1.0\n# EVOLVE-BLOCK-END\n"
EVALUATOR = (
    "def evaluate_candidate(candidate):\n"
    "    value = candidate.f(2.0)\n"
    '    return {"combined_score": -abs(value - 7.0)}\n'
)


def _start_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> str:
    """The one stderr line of ``evoforge run`` on a problem of ``files`` (text by name,
    over the default seed and evaluator), which must fail to start with exit status 2."""
    problem = tmp_path / "problem"
    problem.mkdir()
    defaults = {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR}
    for name, text in {**defaults, **files}.items():
        (problem / name).write_text(text)
    status = main(
        ["run", str(problem), "--iterations", "2", "--quiet", "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_evaluator_error_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluator = EVALUATOR.replace("    return", "    total = summ([value])\n    return")
    line = _start_error(tmp_path, capsys, {"evaluator.py": evaluator})
    assert "NameError: name 'summ' is not defined (at evaluator.py:3 in evaluate_candidate)" in line


def test_a_seed_error_names_its_line_in_initial_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = PROGRAM.replace("    return", "    raise ValueError('not yet')\n    return")
    line = _start_error(tmp_path, capsys, {"initial_program.py": program})
    assert "ValueError: in the candidate: not yet (at initial_program.py:3 in f)" in line


def test_a_relative_data_path_in_the_evaluator_says_how_to_find_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluator = EVALUATOR.replace("    value", "    open('data.csv')\n    value")
    line = _start_error(tmp_path, capsys, {"evaluator.py": evaluator, "data.csv": "1,2\n"})
    assert "(at evaluator.py:2 in evaluate_candidate)" in line
    assert "find files beside it with Path(__file__).parent / 'data.csv'" in line


def test_a_relative_import_in_the_evaluator_says_to_import_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluator = "from .helpers import scale\n" + EVALUATOR
    helpers = "def scale(x):\n    return x\n"
    line = _start_error(tmp_path, capsys, {"evaluator.py": evaluator, "helpers.py": helpers})
    assert "attempted relative import" in line
    assert line.endswith(
        "; evaluator.py is imported as a module of its own, with its directory on sys.path: "
        "import the modules beside it by name (from helpers import f), not relatively "
        "(from .helpers import f)"
    )


def test_evaluate_written_for_a_candidate_says_which_name_takes_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``evaluate`` is the shared-process form's: it is given the program's path."""
    evaluator = EVALUATOR.replace("def evaluate_candidate(", "def evaluate(")
    line = _start_error(tmp_path, capsys, {"evaluator.py": evaluator})
    assert line.endswith(
        "AttributeError: 'str' object has no attribute 'f' (at evaluator.py:2 in evaluate); "
        "evaluate(program_path) is given the program's path (the shared-process form); to "
        "call the program's functions as candidate.f(...), name it "
        "evaluate_candidate(candidate)"
    )


def test_evaluate_candidate_written_for_a_path_says_which_name_takes_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluator = (
        "def evaluate_candidate(program_path):\n"
        "    return {'combined_score': float(len(open(program_path).read()))}\n"
    )
    line = _start_error(tmp_path, capsys, {"evaluator.py": evaluator})
    assert line.endswith(
        "(at evaluator.py:2 in evaluate_candidate); evaluate_candidate(candidate) is given "
        "the candidate, whose functions it calls (candidate.f(x)), not a path; an evaluator "
        "that opens or imports the program file defines evaluate(program_path) (the "
        "shared-process form)"
    )


@pytest.mark.parametrize(
    "path", ["'data.csv'", "__import__('pathlib').Path(__file__).parent / 'data.csv'"]
)
def test_a_candidate_reading_a_problem_file_is_told_it_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    """Relative, or beside the program's own file (an absolute path in its jail)."""
    program = PROGRAM.replace("    return", f"    open({path})\n    return")
    line = _start_error(tmp_path, capsys, {"initial_program.py": program})
    assert "the candidate sees only its own file" in line


def test_a_seed_slower_than_the_time_limit_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = PROGRAM.replace("    return", "    import time\n    time.sleep(30)\n    return")
    config = "evaluator:\n  timeout_s: 1\n"
    line = _start_error(tmp_path, capsys, {"initial_program.py": program, "config.yaml": config})
    # the sandbox's wall clock and the channel's wait for the call end at the same second:
    # either may stop it first, and either way the line names the setting to raise
    if "(timeout)" in line:
        assert "longer than evaluator.timeout_s (1 s): raise it in config.yaml" in line
    else:
        assert "(failed): ChannelBroken: no answer to 'f' within the call time limit" in line
        assert (
            "longer than evaluator.timeout_s (1 s), the limit of each call while "
            "evaluator.call_timeout_s is unset: raise it in config.yaml" in line
        )


def test_a_call_slower_than_its_own_limit_names_that_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = PROGRAM.replace("    return", "    import time\n    time.sleep(30)\n    return")
    config = "evaluator:\n  timeout_s: 20\n  call_timeout_s: 1\n"
    line = _start_error(tmp_path, capsys, {"initial_program.py": program, "config.yaml": config})
    assert "ChannelBroken: no answer to 'f' within the call time limit" in line
    assert "longer than evaluator.call_timeout_s (1 s): raise it in config.yaml" in line


def test_user_frame_skips_library_frames_and_keeps_the_innermost_of_the_problem() -> None:
    numpy_file = Path(numpy.__file__).resolve()
    traceback = (
        "Traceback (most recent call last):\n"
        f'  File "{Path(__file__).parents[1] / "evoforge" / "evaluation" / "runner.py"}", '
        "line 10, in main\n"
        '  File "/runs/r/problem/evaluator.py", line 7, in evaluate_candidate\n'
        '  File "/runs/r/problem/helpers.py", line 3, in load\n'
        f'  File "{numpy_file}", line 99, in loadtxt\n'
        "ValueError: bad row\n"
    )
    assert user_frame(traceback, {}) == "helpers.py:3 in load"
    assert user_frame("ValueError: no traceback\n", {}) is None
    shown = user_frame('  File "/sandbox/program.py", line 2, in f\n', {"program.py": "seed.py"})
    assert shown == "seed.py:2 in f"


def test_a_slow_seed_is_named_with_the_setting_to_raise() -> None:
    assert slow_seed_notice({"search": 0.4}, 1.0) is None  # half or less: no warning
    line = slow_seed_notice({"search": 0.62}, 1.0)
    assert line == (
        "warning: the seed program's evaluation took 0.62 s, 62 % of evaluator.timeout_s "
        "(1 s): a child a little slower, or evaluated beside another, will time out; raise "
        "evaluator.timeout_s in the problem's config.yaml"
    )
    by_split = slow_seed_notice({"search": 0.1, "holdout": 0.2, "test": 7.5}, 10.0)
    assert by_split is not None and "took 7.5 s on the test split, 75 %" in by_split


def test_a_split_scored_task_by_task_counts_its_time_per_task() -> None:
    """Each task of such a split has the whole timeout: 12 tasks of 0.4 s are no warning
    at a 1 s timeout, and a slow task is named per task."""
    tasks = {"search": 1, "holdout": 8, "test": 12}
    fast = slow_seed_notice({"search": 0.2, "holdout": 4.0, "test": 4.8}, 1.0, tasks=tasks)
    assert fast is None
    slow = slow_seed_notice({"search": 0.2, "holdout": 4.0, "test": 9.0}, 1.0, tasks=tasks)
    assert slow is not None and "took 0.75 s per task on the test split (12 tasks, each " in slow
    assert "75 % of evaluator.timeout_s (1 s)" in slow


def test_a_seed_slow_only_while_the_sandbox_starts_is_timed_again() -> None:
    """The first evaluation also starts the template processes: over the line, the search
    split is timed once more and the warm time counts; under it, nothing runs again."""
    retimed: list[float] = []

    def again(seconds: float) -> Callable[[], float]:
        return lambda: retimed.append(seconds) or seconds

    assert slow_seed_notice({"search": 1.7}, 2.0, retime=again(0.1)) is None
    assert retimed == [0.1]
    line = slow_seed_notice({"search": 1.7, "test": 0.2}, 2.0, retime=again(1.5))
    assert line is not None and "took 1.5 s on the search split, 75 %" in line
    assert slow_seed_notice({"search": 0.9, "test": 1.8}, 2.0, retime=again(0.0)) is not None
    assert retimed == [0.1, 1.5]  # the search's 0.9 s was under the line: not timed again


def test_a_run_whose_seed_takes_most_of_its_timeout_warns_at_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real start: the seed scores (the run goes on) and the warning names the time."""
    problem = tmp_path / "problem"
    problem.mkdir()
    (problem / "initial_program.py").write_text(PROGRAM)
    slow = EVALUATOR.replace("    value =", "    import time\n    time.sleep(2.5)\n    value =")
    (problem / "evaluator.py").write_text(slow)
    (problem / "config.yaml").write_text("evaluator:\n  timeout_s: 4\n")
    run = ["run", str(problem), "--iterations", "1", "--out", str(tmp_path / "r")]
    assert main(run) == 0
    out = capsys.readouterr()
    warning = "warning: the seed program's evaluation took "
    assert warning in out.out + out.err
    assert "of evaluator.timeout_s (4 s)" in out.out + out.err

    # the same problem, a quick seed under a tight limit: its first evaluation, which also
    # starts the sandbox's template processes (not on the limit's clock), takes more than
    # half of it (0.8-1.3 s on a 2-core VM), a warm one a few hundredths of a second
    (problem / "evaluator.py").write_text(EVALUATOR)
    (problem / "config.yaml").write_text("evaluator:\n  timeout_s: 1\n")
    assert main([*run[:-1], str(tmp_path / "quick")]) == 0
    out = capsys.readouterr()
    assert warning not in out.out + out.err


@pytest.mark.parametrize(
    "statement",
    ["from cma import CMAEvolutionStrategy", "import cma.evolution_strategy", "cma.fmin2"],
    ids=["from-import", "submodule", "attribute"],
)
def test_a_seed_using_a_package_hidden_from_the_candidate_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], statement: str
) -> None:
    """A hidden package is an empty directory in the candidate's jail: importing it works
    (an empty namespace package), and whatever the seed takes from it then fails."""
    if filesystem_isolation() != "mountns":
        pytest.skip(f"no jail to hide a package in here ({filesystem_isolation()})")
    program = "import cma\n" + PROGRAM.replace("    return", f"    {statement}\n    return")
    config = "evaluator:\n  candidate_hidden_packages: [cma]\n"
    line = _start_error(tmp_path, capsys, {"initial_program.py": program, "config.yaml": config})
    assert "in the candidate" in line
    assert "cma is hidden from the candidate (evaluator.candidate_hidden_packages)" in line
