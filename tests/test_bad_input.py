"""Bad input: malformed problems, invalid configs, nonsense arguments, fuzzed text.

Every user error is one readable line on stderr and exit status 2, and leaves nothing
half-written (no run directory). The SEARCH/REPLACE parser and the problem loader never
raise anything but their own error for any input.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoforge.blocks import frozen_violation
from evoforge.cli import main
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.operators import diff
from evoforge.problem import ProblemError, load_problem

CURVE_FIT = Path(__file__).parent / "e2e" / "problems" / "curve_fit"
GOOD_PROGRAM = (CURVE_FIT / "initial_program.py").read_text()
GOOD_EVALUATOR = (CURVE_FIT / "evaluator.py").read_text()


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def _problem(tmp_path: Path, program: str | None, evaluator: str | None) -> Path:
    root = tmp_path / "problem"
    root.mkdir()
    if program is not None:
        (root / "initial_program.py").write_text(program)
    if evaluator is not None:
        (root / "evaluator.py").write_text(evaluator)
    return root


MALFORMED = {
    "no_markers": (
        GOOD_PROGRAM.replace("# EVOLVE-BLOCK-START\n", "").replace("# EVOLVE-BLOCK-END\n", ""),
        GOOD_EVALUATOR,
        "EVOLVE-BLOCK",
    ),
    "unbalanced_markers": (
        GOOD_PROGRAM.replace("# EVOLVE-BLOCK-END\n", ""),
        GOOD_EVALUATOR,
        "EVOLVE-BLOCK",
    ),
    "program_syntax_error": (
        GOOD_PROGRAM.replace("def model(x):", "def model(x)"),
        GOOD_EVALUATOR,
        "syntax error",
    ),
    "evaluator_syntax_error": (
        GOOD_PROGRAM,
        GOOD_EVALUATOR.replace("def evaluate(", "def evaluate((("),
        "syntax error",
    ),
    "evaluator_without_evaluate": (GOOD_PROGRAM, "def score(path):\n    return {}\n", "evaluate"),
    "missing_program": (None, GOOD_EVALUATOR, "missing initial_program.py"),
    "missing_evaluator": (GOOD_PROGRAM, None, "missing evaluator.py"),
    "evaluator_returning_no_score": (
        GOOD_PROGRAM,
        "def evaluate(path):\n    return {}\n",
        "seed program did not score",
    ),
    "evaluator_returning_text": (
        GOOD_PROGRAM,
        "def evaluate(path):\n    return {'s': 'hi'}\n",
        "seed program did not score",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_problem_is_one_line_and_writes_nothing(
    case: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    program, evaluator, expected = MALFORMED[case]
    problem = _problem(tmp_path, program, evaluator)
    out = tmp_path / "run"
    line = _one_line_error(capsys, ["run", str(problem), "--out", str(out), "--quiet"])
    assert expected in line, line
    assert not out.exists()  # not even the directory the start made


def test_a_failed_start_leaves_a_directory_it_did_not_make_as_it_was(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program, evaluator, _ = MALFORMED["evaluator_returning_no_score"]
    problem = _problem(tmp_path, program, evaluator)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    _one_line_error(capsys, ["run", str(problem), "--out", str(mine), "--quiet"])
    assert sorted(entry.name for entry in mine.iterdir()) == ["notes.txt"]
    _one_line_error(capsys, ["run", str(problem), "--out", str(mine), "--fresh", "--quiet"])
    assert sorted(entry.name for entry in mine.iterdir()) == ["notes.txt"]  # no run.lock
    monkeypatch.chdir(tmp_path)
    _one_line_error(capsys, ["run", str(problem), "--quiet"])  # the default directory
    assert not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("initial_program.py", " (here {problem})"),
        ("evaluator.py", " (here {problem})"),
        ("notes.txt", ""),
    ],
)
def test_a_file_given_as_the_problem_names_the_directory_to_give(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, hint: str
) -> None:
    problem = _problem(tmp_path, GOOD_PROGRAM, GOOD_EVALUATOR)
    (problem / "notes.txt").write_text("a file")
    line = _one_line_error(capsys, ["run", str(problem / name), "--out", str(tmp_path / "run")])
    assert line == (
        f"evoforge: error: {problem / name} is not a directory: give the problem directory, "
        f"which holds initial_program.py and evaluator.py{hint.format(problem=problem)}"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("run:\n  iterations: 5\n  colour: blue\n", "run.colour: unknown key"),
        ("evaluatr:\n  timeout_s: 3\n", "evaluatr"),
        ("run:\n  iterations: many\n", "iterations"),
        ("run:\n  iterations: -5\n", "iterations"),
        ("evaluator:\n  timeout_s: -1\n", "timeout_s"),
        ("evaluator:\n  memory_mb: 1.5e99\n", "memory_mb"),
        ("run:\n  workers: 0\n", "workers"),
        ("- just\n- a list\n", "mapping"),
        ("run: [unclosed\n", ""),
        ("archive:\n  features: []\n", "archive.features"),
        (b"\xff\xfe run:\n  iterations: 5\n", "not UTF-8"),
        # YAML keeps the last of two equal keys and drops the first without a word
        ("seed: 1\nrun:\n  iterations: 5\nseed: 2\n", "line 4: seed is given a second time"),
        ("run:\n  iterations: 5\n  workers: 1\n  iterations: 6\n", "line 4: run.iterations"),
    ],
)
def test_invalid_config_is_one_line(
    yaml_text: str | bytes, expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    problem = tmp_path / "curve_fit"
    shutil.copytree(CURVE_FIT, problem)
    config = tmp_path / "config.yaml"
    if isinstance(yaml_text, bytes):
        config.write_bytes(yaml_text)
    else:
        config.write_text(yaml_text)
    out = tmp_path / "run"
    line = _one_line_error(
        capsys, ["run", str(problem), "--config", str(config), "--out", str(out)]
    )
    assert expected in line, line
    assert str(config) in line, line  # the error names the file
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["run"],
        ["run", "a", "b"],
        ["run", "{problem}", "--iterations", "ten"],
        ["run", "{problem}", "--iterations", "1e3"],
        ["run", "{problem}", "--workers", "0"],
        ["run", "{problem}", "--seed", "-1"],
        ["run", "{problem}", "--quiet", "--jsonl"],
        ["run", "{problem}", "--executor", "slurm"],
        ["run", "{problem}", "--executor", "local", "--ray-address", "auto"],
        ["run", "{problem}", "--config", "{missing}"],
        ["run", "{problem}", "--model", "m", "--llm-base-url", "http://127.0.0.1:abc/v1"],
        ["run", "{problem}", "--model", "m", "--llm-base-url", "http://[::1/v1"],
        ["run", "{problem}", "--model", "m", "--llm-base-url", "http://256.1.1.1/v1"],
        ["run", "{problem}", "--model", "m", "--llm-base-url", "http://127.0.0.1:99999/v1"],
        ["run", "{problem}", "--model", "m", "--llm-base-url", "ftp://127.0.0.1/v1"],
        ["oracle", "--port", "70000"],
        ["resume"],
        ["resume", "{missing}"],
        ["best", "{problem}"],
        ["status", "--json"],
        ["--frobnicate"],
        ["\x00"],
    ],
)
def test_nonsense_arguments_are_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    problem = tmp_path / "curve_fit"
    shutil.copytree(CURVE_FIT, problem)
    values = {"problem": str(problem), "missing": str(tmp_path / "missing")}
    _one_line_error(capsys, [arg.format(**values) for arg in argv])
    assert not (tmp_path / "runs").exists()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=st.text(max_size=400), parent_extra=st.text(max_size=80))
def test_search_replace_parser_never_raises_anything_else(answer: str, parent_extra: str) -> None:
    parent = GOOD_PROGRAM.replace("b = 0.1", f"b = 0.1  # {parent_extra!r}")
    for text in (
        answer,
        f"<<<<<<< SEARCH\n{answer}\n=======\nb = 0.2\n>>>>>>> REPLACE\n",
        f"<<<<<<< SEARCH\n    b = 0.1\n=======\n{answer}\n>>>>>>> REPLACE\n",
    ):
        try:
            child = diff.child_from_diff(parent, text)
        except diff.AnswerError:
            continue
        # whatever the answer, an applied edit stays inside the evolve blocks
        assert frozen_violation(parent, child) is None


def test_search_replace_parser_applies_an_edit_that_matches() -> None:
    answer = "<<<<<<< SEARCH\nb = 0.1\n=======\nb = 0.25\n>>>>>>> REPLACE\n"
    child = diff.child_from_diff(GOOD_PROGRAM, answer)
    assert child == GOOD_PROGRAM.replace("b = 0.1", "b = 0.25")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=st.text(max_size=400))
def test_rewrite_parser_never_raises_anything_else(answer: str) -> None:
    for text in (answer, f"```python\n{answer}\n```"):
        try:
            child = diff.child_from_rewrite(GOOD_PROGRAM, text)
        except diff.AnswerError:
            continue
        assert frozen_violation(GOOD_PROGRAM, child) is None


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    program=st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    "# EVOLVE-BLOCK-START",
                    "# EVOLVE-BLOCK-END",
                    "x = 1",
                    "def f():",
                    "    return 2",
                    "",
                    "  # EVOLVE-BLOCK-START",
                    "\t",
                    "\x00",
                ]
            ),
            max_size=12,
        ).map("\n".join),
    ),
    evaluator=st.one_of(st.just(GOOD_EVALUATOR), st.text(max_size=200)),
    config=st.one_of(st.none(), st.text(max_size=120)),
)
def test_problem_loader_never_raises_anything_else(
    tmp_path_factory: pytest.TempPathFactory, program: str, evaluator: str, config: str | None
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "initial_program.py").write_text(program, encoding="utf-8", errors="surrogatepass")
    (root / "evaluator.py").write_text(evaluator, encoding="utf-8", errors="surrogatepass")
    if config is not None:
        (root / "config.yaml").write_text(config, encoding="utf-8", errors="surrogatepass")
    try:
        load_problem(root)
    except ProblemError as exc:
        assert str(exc) and "\n" not in str(exc)


def test_an_oracle_port_in_use_is_one_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = _one_line_error(capsys, ["oracle", "--port", str(port)])
    assert f"cannot listen on 127.0.0.1:{port}" in line, line


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no jail here: nothing to hide a problem from"
)
@pytest.mark.parametrize("inside", ["problem", "run"])
def test_a_problem_or_run_that_every_jail_shows_is_refused(
    inside: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every jail binds the system's /usr (and /bin, /lib ...) whole: a problem or run
    directory in there (a container's WORKDIR /usr/src/app) would be in plain sight of
    every candidate, so the run is refused before anything is written. A temporary
    directory stands in for /usr here."""
    system = tmp_path / "usr"
    system.mkdir()
    monkeypatch.setattr("evoforge.evaluation.sandbox.jail._SYSTEM_TOPS", (str(system),))
    problem = tmp_path / "problem"
    shutil.copytree(CURVE_FIT, problem)
    out = tmp_path / "run"
    if inside == "problem":
        problem = system / "src" / "problem"
        shutil.copytree(CURVE_FIT, problem)
    else:
        out = system / "src" / "run"
    line = _one_line_error(capsys, ["run", str(problem), "--out", str(out), "--quiet"])
    assert f"the {inside} directory" in line and f"lies inside {system}" in line, line
    assert not (out / "run.sqlite").exists()


def test_escape_sequences_from_a_candidate_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The seed's error quotes what the evaluator raised: a screen clear and a window
    title set there are shown as text, not obeyed."""
    evaluator = 'def evaluate(path):\n    raise ValueError("\\x1b[2J\\x1b]0;owned\\x07 boom")\n'
    problem = _problem(tmp_path, GOOD_PROGRAM, evaluator)
    line = _one_line_error(capsys, ["run", str(problem), "--out", str(tmp_path / "r")])
    assert "\\x1b[2J" in line and "boom" in line, line
    assert "\x1b" not in line and "\x07" not in line
