"""A seed that does not score stops ``evoforge run`` with one line that says where the
problem's own code failed and, for the common mistakes of a new problem, what to change.

Each case is a real start: the seed runs in the sandbox through a real evaluator.
"""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest

from evoforge.cli import main
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.seed_failure import user_frame

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


def test_a_candidate_reading_a_problem_file_is_told_it_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = PROGRAM.replace("    return", "    open('data.csv')\n    return")
    line = _start_error(tmp_path, capsys, {"initial_program.py": program})
    assert "the candidate sees only its own file" in line


def test_a_seed_slower_than_the_time_limit_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = PROGRAM.replace("    return", "    import time\n    time.sleep(30)\n    return")
    config = "evaluator:\n  timeout_s: 1\n"
    line = _start_error(tmp_path, capsys, {"initial_program.py": program, "config.yaml": config})
    assert "(timeout)" in line
    assert "longer than evaluator.timeout_s (1 s): raise it in config.yaml" in line


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
