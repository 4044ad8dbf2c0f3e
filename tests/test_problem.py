"""Problem loading: a good problem loads, every malformed one is a one-line ProblemError."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoforge.problem import _RUN_ENTRIES, ProblemError, load_problem, materialise_problem
from evoforge.runs import _RUN_FILES

SEED = "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
EVALUATOR = "def evaluate(program_path):\n    return {'combined_score': 1.0}\n"


def _problem(tmp_path: Path, **files: str) -> Path:
    contents = {"initial_program.py": SEED, "evaluator.py": EVALUATOR}
    contents.update(files)
    for name, text in contents.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    return tmp_path


def test_loads_a_problem(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.json").write_text("[1]")
    problem = load_problem(_problem(tmp_path, **{"README.md": "# Demo\n"}))
    assert problem.initial_code == SEED
    assert problem.description.startswith("# Demo")
    assert set(problem.files) == {"initial_program.py", "evaluator.py", "README.md", "data/x.json"}
    copy = tmp_path.parent / (tmp_path.name + "-copy")
    materialise_problem(problem.files, copy)
    assert (copy / "data" / "x.json").read_text() == "[1]"


def test_run_directories_inside_the_problem_are_not_problem_files(tmp_path: Path) -> None:
    """``--out`` inside the problem directory (or the problem directory itself): a later
    run must not copy those runs' databases, locks and problem copies as problem files."""
    directory = _problem(tmp_path)
    (directory / "data" / "problem").mkdir(parents=True)
    (directory / "data" / "problem" / "x.txt").write_text("kept: no run here")
    for run in (directory / "out1", directory / "nested" / "out2", directory):
        (run / "problem").mkdir(parents=True, exist_ok=True)
        (run / "problem" / "initial_program.py").write_text(SEED)
        for name in ("run.sqlite", "run.sqlite-wal", "run.lock", "report.html"):
            (run / name).write_text("a run's file")
    (directory / "nested" / "notes.md").write_text("kept")
    assert _RUN_ENTRIES == _RUN_FILES  # what a run directory holds, named in two layers
    problem = load_problem(directory)
    assert set(problem.files) == {
        "initial_program.py",
        "evaluator.py",
        "data/problem/x.txt",
        "nested/notes.md",
    }


def test_a_linked_data_directory_is_copied_and_a_link_back_up_is_not_followed(
    tmp_path: Path,
) -> None:
    """The evaluator reads ``data/`` through the link in the problem directory, so the
    run's copy must hold its files; a link to a directory above it would never end."""
    shared = tmp_path / "shared"
    (shared / "deeper").mkdir(parents=True)
    (shared / "deeper" / "x.csv").write_text("1,2")
    (tmp_path / "problem").mkdir()
    directory = _problem(tmp_path / "problem")
    (directory / "data").symlink_to(shared, target_is_directory=True)
    (directory / "again").symlink_to(shared, target_is_directory=True)
    (shared / "up").symlink_to(directory, target_is_directory=True)
    (directory / "self").symlink_to(".", target_is_directory=True)
    problem = load_problem(directory)
    assert set(problem.files) == {
        "initial_program.py",
        "evaluator.py",
        "data/deeper/x.csv",
        "again/deeper/x.csv",
    }


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"initial_program.py": "X = 1\n"}, "no '# EVOLVE-BLOCK-START'"),
        ({"initial_program.py": "# EVOLVE-BLOCK-START\nX = 1\n"}, "without a matching"),
        ({"initial_program.py": "# EVOLVE-BLOCK-START\nX = (\n# EVOLVE-BLOCK-END\n"}, "syntax"),
        ({"evaluator.py": "def evaluate(p:\n"}, "syntax error"),
        (  # Python cannot compile it either
            {"initial_program.py": SEED.replace("1.0", " + ".join(["1.0"] * 5000))},
            "initial_program.py: nested too deeply for Python to parse",
        ),
        ({"initial_program.py": SEED + "\0\n"}, "initial_program.py: syntax error: source code"),
        ({"evaluator.py": "def score(p):\n    return {}\n"}, "defines none of evaluate_candidate"),
        ({"config.yaml": "run: [1\n"}, "not valid YAML"),
    ],
)
def test_malformed_problems(tmp_path: Path, files: dict[str, str], fragment: str) -> None:
    with pytest.raises(ProblemError) as info:
        load_problem(_problem(tmp_path, **files))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ProblemError, match="does not exist"):
        load_problem(tmp_path / "nope")
    (tmp_path / "initial_program.py").write_text(SEED)
    with pytest.raises(ProblemError, match=r"missing evaluator\.py"):
        load_problem(tmp_path)


def test_openevolve_config_is_translated_with_a_notice(tmp_path: Path) -> None:
    problem = load_problem(
        _problem(tmp_path, **{"config.yaml": "max_iterations: 7\nllm:\n  temperature: 0.3\n"})
    )
    assert problem.config_layer["run"] == {"iterations": 7}
    assert any("llm.temperature" in notice for notice in problem.notices)


@pytest.mark.parametrize(
    "evaluator",
    [
        "from common import evaluate\n",
        "import functools\nfrom common import score\nevaluate = functools.partial(score, n=3)\n",
        "try:\n    from common import evaluate_stage1\nexcept ImportError:\n    raise\n",
        "from common import run as evaluate_candidate\n",
        "from common import *\n",
    ],
)
def test_entry_points_bound_by_import_or_assignment_are_accepted(
    tmp_path: Path, evaluator: str
) -> None:
    problem = load_problem(_problem(tmp_path, **{"evaluator.py": evaluator}))
    assert problem.evaluator_path.name == "evaluator.py"


def test_an_imported_entry_point_is_evaluated(tmp_path: Path) -> None:
    from evoforge.config import EvaluatorConfig
    from evoforge.evaluation.evaluator import ProblemEvaluator
    from evoforge.program import EvalStatus

    common = "def evaluate_candidate(candidate):\n    return {'combined_score': candidate.f()}\n"
    directory = _problem(
        tmp_path,
        **{"evaluator.py": "from common import evaluate_candidate\n", "common.py": common},
    )
    problem = load_problem(directory)
    evaluator = ProblemEvaluator(problem.evaluator_path, EvaluatorConfig(timeout_s=20))
    try:
        assert evaluator.form == "isolated"
        result = evaluator.evaluate("def f():\n    return 0.25\n")
    finally:
        evaluator.close()
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.25


def test_a_data_file_over_the_limit_is_refused_by_name(tmp_path: Path) -> None:
    directory = _problem(tmp_path)
    (directory / "big.npy").write_bytes(b"\0" * (8 * 1024 * 1024 + 1))
    with pytest.raises(ProblemError, match=r"big\.npy is 8\.0 MiB, over the 8\.0 MiB") as error:
        load_problem(directory)
    assert "\n" not in str(error.value)


def test_data_files_over_the_total_limit_are_refused_by_name(tmp_path: Path) -> None:
    directory = _problem(tmp_path)
    for index in range(5):
        (directory / f"part{index}.bin").write_bytes(b"\0" * (7 * 1024 * 1024))
    with pytest.raises(ProblemError, match=r"part4\.bin \(7\.0 MiB\) takes the problem's"):
        load_problem(directory)


def test_a_linked_tree_of_too_many_files_is_refused(tmp_path: Path) -> None:
    """A link to a large tree (a dataset, or ``/``) is refused once the walk passes the
    file limit, in one line, rather than read whole."""
    elsewhere = tmp_path / "dataset"
    elsewhere.mkdir()
    for index in range(10_001):
        (elsewhere / f"{index}.txt").write_bytes(b"")
    (tmp_path / "problem").mkdir()
    directory = _problem(tmp_path / "problem")
    (directory / "data").symlink_to(elsewhere)
    with pytest.raises(ProblemError, match="holds over 10,000 files") as error:
        load_problem(directory)
    assert "\n" not in str(error.value)


def test_a_seed_with_a_byte_order_mark_loads_without_it(tmp_path: Path) -> None:
    """Python runs a source file that starts with a UTF-8 byte-order mark; so does evoforge
    (the mark is left out of the program, which ``ast.parse`` would refuse with it)."""
    directory = _problem(tmp_path)
    for name in ("initial_program.py", "evaluator.py"):
        path = directory / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    problem = load_problem(directory)
    assert problem.initial_code == SEED
    assert problem.files["initial_program.py"].startswith(b"\xef\xbb\xbf")  # kept as given


def test_a_seed_with_crlf_line_endings_loads_with_a_notice_that_they_become_lf(
    tmp_path: Path,
) -> None:
    directory = _problem(tmp_path)
    (directory / "initial_program.py").write_bytes(SEED.replace("\n", "\r\n").encode())
    problem = load_problem(directory)
    assert problem.initial_code == SEED
    assert [notice for notice in problem.notices if "CRLF" in notice]
    (tmp_path / "lf").mkdir()
    assert not load_problem(_problem(tmp_path / "lf")).notices


def test_an_evolve_block_without_code_is_named_in_a_notice(tmp_path: Path) -> None:
    seed = (
        "import math\n"
        "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
        "# EVOLVE-BLOCK-START\n\n    # write a model here\n# EVOLVE-BLOCK-END\n"
    )
    problem = load_problem(_problem(tmp_path, **{"initial_program.py": seed}))
    empty = [notice for notice in problem.notices if "holds no code" in notice]
    assert empty == [
        "initial_program.py: the evolve block after line 5 holds no code; the symbolic "
        "operators (tune, mutate, crossover, simplify) only change code that is there, so "
        "it stays empty unless a language model writes into it"
    ]
    assert not load_problem(_problem(tmp_path, **{"initial_program.py": SEED})).notices


def test_cascade_functions_beside_evaluate_candidate_are_named_as_never_called(
    tmp_path: Path,
) -> None:
    evaluator = (
        "def evaluate_stage1(candidate):\n    return {'combined_score': 0.0}\n\n"
        "def evaluate_candidate(candidate):\n    return {'combined_score': 1.0}\n"
    )
    problem = load_problem(_problem(tmp_path, **{"evaluator.py": evaluator}))
    assert [notice for notice in problem.notices if "never" in notice] == [
        "evaluator.py defines evaluate_candidate, so evoforge calls only it and never "
        "evaluate_stage1 (the isolated form has no cascade: make the cheap checks first "
        "inside evaluate_candidate, raising for a candidate that fails them)"
    ]
    alone = "def evaluate_candidate(candidate):\n    return {'combined_score': 1.0}\n"
    assert not load_problem(_problem(tmp_path, **{"evaluator.py": alone})).notices


def test_notices_about_the_program_and_evaluator_are_kept_beside_a_config(
    tmp_path: Path,
) -> None:
    """A problem with a ``config.yaml`` (as ``evoforge init`` writes) keeps the notices
    found in its program and evaluator, and adds the config's own after them."""
    seed = "# EVOLVE-BLOCK-START\n# write code here\n# EVOLVE-BLOCK-END\n"
    evaluator = (
        "def evaluate_stage1(path):\n    return {'combined_score': 0.0}\n\n"
        "def evaluate_candidate(candidate):\n    return {'combined_score': 1.0}\n"
    )
    config = "max_iterations: 5\nllm:\n  temperature: 0.3\n"  # OpenEvolve's: a notice
    directory = _problem(
        tmp_path,
        **{"initial_program.py": seed, "evaluator.py": evaluator, "config.yaml": config},
    )
    notices = load_problem(directory).notices
    assert [notice for notice in notices if "holds no code" in notice]
    assert [notice for notice in notices if "never evaluate_stage1" in notice]
    assert [notice for notice in notices if "llm.temperature" in notice]


@pytest.mark.parametrize("name", ["config.yml", "Config.yaml", "CONFIG.YML"])
def test_a_config_under_another_name_is_named_as_not_read(tmp_path: Path, name: str) -> None:
    directory = _problem(tmp_path, **{name: "run:\n  iterations: 3\n"})
    problem = load_problem(directory)
    assert problem.config_layer == {}
    assert list(problem.notices) == [
        f"{name} is not read: a problem's settings are read from config.yaml only "
        "(rename it, or pass it with --config)"
    ]


HINT = (
    "is not a marker: the markers are the comments '# EVOLVE-BLOCK-START' and "
    "'# EVOLVE-BLOCK-END', in capitals)"
)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "# evolve-block-start\nx = 1\n# evolve-block-end\n",
            f"no '# EVOLVE-BLOCK-START' / '# EVOLVE-BLOCK-END' markers found "
            f"(line 1 '# evolve-block-start' {HINT}",
        ),
        (
            "y = 0\n# EVOLVE-BLOCK-BEGIN\nx = 1\n# EVOLVE-BLOCK-END\n",
            f"line 4: EVOLVE-BLOCK-END without a matching start "
            f"(line 2 '# EVOLVE-BLOCK-BEGIN' {HINT}",
        ),
        (
            "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE_BLOCK_END\n",
            "line 1: EVOLVE-BLOCK-START without a matching EVOLVE-BLOCK-END "
            f"(line 3 '# EVOLVE_BLOCK_END' {HINT}",
        ),
    ],
)
def test_a_misspelt_marker_in_a_seed_is_named(tmp_path: Path, code: str, message: str) -> None:
    """A marker written in another case or spelling is a comment like any other: the
    seed's error names the line that was probably meant as one."""
    with pytest.raises(ProblemError) as error:
        load_problem(_problem(tmp_path, **{"initial_program.py": code}))
    assert str(error.value) == f"{tmp_path / 'initial_program.py'}: {message}"


@pytest.mark.parametrize(
    "evaluator",
    [
        "async def evaluate_candidate(candidate):\n    return {'combined_score': 1.0}\n",
        "async def evaluate(program_path):\n    return {'combined_score': 1.0}\n",
        EVALUATOR + "\n\nasync def verify(output):\n    return {'combined_score': 1.0}\n",
    ],
)
def test_an_async_evaluate_function_is_refused_at_load(tmp_path: Path, evaluator: str) -> None:
    """Called as a plain function, it returned a coroutine: the seed failed with "got
    coroutine", and a coroutine was never awaited."""
    with pytest.raises(ProblemError, match=r"evaluator.py:\d+: \w+ is defined with async def"):
        load_problem(_problem(tmp_path, **{"evaluator.py": evaluator}))


@pytest.mark.parametrize(
    ("stages", "notice"),
    [
        (
            ("evaluate_stage2",),
            "defines evaluate_stage2 but no evaluate_stage1, so evoforge never calls it",
        ),
        (
            ("evaluate_stage1", "evaluate_stage3"),
            "defines evaluate_stage3 but no evaluate_stage2, so evoforge never calls it",
        ),
        (
            ("evaluate_stage2", "evaluate_stage3"),
            "defines evaluate_stage2, evaluate_stage3 but no evaluate_stage1, so evoforge "
            "never calls them",
        ),
        (("evaluate_stage1", "evaluate_stage2", "evaluate_stage3"), None),
        (("evaluate_stage1",), None),
    ],
)
def test_a_cascade_stage_never_reached_is_named(
    tmp_path: Path, stages: tuple[str, ...], notice: str | None
) -> None:
    """The cascade runs its stages in order as far as they are defined; one after a gap
    was never called, without a word."""
    evaluator = EVALUATOR + "".join(
        f"\n\ndef {name}(program_path):\n    return {{'combined_score': 1.0}}\n" for name in stages
    )
    notices = load_problem(_problem(tmp_path, **{"evaluator.py": evaluator})).notices
    if notice is None:
        assert not notices
    else:
        assert len(notices) == 1 and f"evaluator.py {notice}: a cascade runs" in notices[0]
