"""Bad input ends with one readable line on stderr and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoforge.cli import main


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_bad_cli_input(capsys: pytest.CaptureFixture[str], curve_fit: Path, tmp_path: Path) -> None:
    assert "does not exist" in _one_line_error(capsys, ["run", str(tmp_path / "nope")])
    assert "must not be negative" in _one_line_error(
        capsys, ["run", str(curve_fit), "--iterations", "-3"]
    )
    assert "invalid choice" in _one_line_error(capsys, ["frobnicate"])
    assert "holds no run" in _one_line_error(capsys, ["resume", str(tmp_path)])
    assert "holds no run" in _one_line_error(capsys, ["status", str(tmp_path)])
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("run:\n  iteratons: 5\n")
    line = _one_line_error(capsys, ["run", str(curve_fit), "--config", str(bad_config)])
    assert "run.iteratons: unknown key" in line
    negative = tmp_path / "negative.yaml"
    negative.write_text("run:\n  max_evaluations: -1\n")
    assert "max_evaluations" in _one_line_error(
        capsys, ["run", str(curve_fit), "--config", str(negative)]
    )


def test_a_seed_that_fails_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], curve_fit: Path, tmp_path: Path
) -> None:
    evaluator = curve_fit / "evaluator.py"
    evaluator.write_text(
        evaluator.read_text().replace("return {", "raise RuntimeError('broken')\n    return {")
    )
    line = _one_line_error(capsys, ["run", str(curve_fit), "--out", str(tmp_path / "r")])
    assert "seed program did not score" in line
    assert not (tmp_path / "r" / "run.sqlite").exists()


def test_init_writes_a_problem_that_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from evoforge.config import EvaluatorConfig
    from evoforge.evaluation.evaluator import ProblemEvaluator
    from evoforge.problem import load_problem

    target = tmp_path / "mine"
    assert main(["init", str(target)]) == 0
    load_problem(target)
    written = ProblemEvaluator(target / "evaluator.py", EvaluatorConfig(timeout_s=30))
    assert written.form == "isolated"
    result = written.evaluate((target / "initial_program.py").read_text())
    assert result.score == pytest.approx(0.152, abs=1e-3), result.reason
    assert "not empty" in _one_line_error(capsys, ["init", str(target)])


def test_init_names_a_command_that_pastes_as_is_and_refuses_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "my problem"
    assert main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    assert out == (f"wrote a problem to {target}; try: evoforge run '{target}' --iterations 100\n")
    (tmp_path / "a_file").write_text("")
    line = _one_line_error(capsys, ["init", str(tmp_path / "a_file")])
    assert line == (
        f"evoforge: error: evoforge init: {tmp_path / 'a_file'} is a file; "
        "name a new or empty directory"
    )


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"evoforge {version('evoforge')}"
