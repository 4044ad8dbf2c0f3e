"""Instance splits end to end: the evaluator scores the split the trusted side names, a run
chooses its final program through Thresholdout on the holdout, scores it once on test,
stores every query, reports it, resumes without asking twice and says when the holdout's
budget is spent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from evoforge import run
from evoforge.cli import main
from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.program import EvalStatus
from evoforge.report.progress import Reporter
from evoforge.runs import resume_run
from evoforge.splits import QUERY_EVENT, holdout_queries, read_final
from evoforge.storage.db import RunDatabase

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "split_curve_fit"


@pytest.fixture
def problem(tmp_path: Path) -> Path:
    target = tmp_path / "split_curve_fit"
    shutil.copytree(PROBLEM, target)
    return target


class Notes(Reporter):
    """A reporter that keeps the notes a run gives the user."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, message: str) -> None:
        self.lines.append(message)


def test_the_evaluator_scores_the_split_it_is_named(problem: Path) -> None:
    evaluator = ProblemEvaluator(problem / "evaluator.py", EvaluatorConfig(timeout_s=20))
    code = (problem / "initial_program.py").read_text()
    try:
        points = {
            split: evaluator.evaluate(code, split).metrics.get("points")
            for split in (None, "search", "holdout", "test")
        }
        unknown = evaluator.evaluate(code, "training")
    finally:
        evaluator.close()
    assert points == {None: 12, "search": 12, "holdout": 40, "test": 60}
    assert unknown.status is EvalStatus.FAILED
    assert "KeyError" in unknown.reason and "training" in unknown.reason


def _run(problem: Path, out: Path, **splits: Any) -> Any:
    config = {"splits": splits} if splits else None
    return run(problem, iterations=10, seed=3, workers=1, out=out, config=config)


def test_a_run_chooses_on_the_holdout_and_scores_the_choice_once_on_test(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _run(problem, tmp_path / "a")
    final = result.final
    assert final is not None and final.test_evaluations == 1
    db = RunDatabase(tmp_path / "a" / RunDatabase.FILENAME)
    try:
        queries = holdout_queries(db)
        candidates = db.top_programs(4, distinct_scores=True)
        assert read_final(db) == final
        chosen = db.program(final.program_id)
    finally:
        db.close()
    # every candidate (one per search score) was put to the holdout once; the winner has
    # the highest answer
    assert len({program.score for program in candidates}) == len(candidates)
    assert [q["program_id"] for q in queries] == [p.id for p in candidates]
    answers = {q["program_id"]: q["answer"] for q in queries}
    assert final.holdout_estimate == max(answers.values())
    assert final.candidates == len(candidates) and final.queries == len(queries)
    assert chosen is not None and final.search_score == chosen.score
    # the test score is the test split's own, and the gap is search minus test
    evaluator = ProblemEvaluator(problem / "evaluator.py", EvaluatorConfig(timeout_s=20))
    try:
        test = evaluator.evaluate(chosen.code, "test")
    finally:
        evaluator.close()
    assert final.test_score == test.score
    assert final.gap == pytest.approx(final.search_score - test.score)

    for command in ("best", "status"):
        assert main([command, str(tmp_path / "a"), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)["splits"]
        assert shown["search_score"] == final.search_score
        assert shown["holdout_estimate"] == final.holdout_estimate
        assert shown["test_score"] == final.test_score
        assert shown["gap"] == final.gap
    assert main(["status", str(tmp_path / "a")]) == 0
    assert "final choice" in capsys.readouterr().out

    # the same seed gives the same queries, answers and choice
    again = _run(problem, tmp_path / "b")
    db = RunDatabase(tmp_path / "b" / RunDatabase.FILENAME)
    try:
        assert holdout_queries(db) == queries
    finally:
        db.close()
    assert again.final == final

    # resuming for more iterations asks only about programs not asked about before
    resumed = resume_run(tmp_path / "a", extra_iterations=6, reporter=Notes())
    assert resumed.final is not None
    db = RunDatabase(tmp_path / "a" / RunDatabase.FILENAME)
    try:
        asked = [event.payload["program_id"] for event in db.events(QUERY_EVENT)]
    finally:
        db.close()
    assert asked[: len(queries)] == [q["program_id"] for q in queries]
    assert len(asked) == len(set(asked))
    changed = resumed.final.program_id != final.program_id
    assert resumed.final.test_evaluations == 1 + int(changed)


def _without_splits(evaluator: Path) -> None:
    """Make ``evaluator`` fail on every split but the search."""
    header = 'def evaluate_candidate(candidate, split="search"):\n'
    guard = '    if split != "search":\n        raise RuntimeError(f"no {split} instances here")\n'
    evaluator.write_text(evaluator.read_text().replace(header, header + guard))


def test_failures_on_the_holdout_and_test_are_shown_with_their_reasons(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An evaluator that fails on the holdout and test splits once the run has started:
    the final choice says how many candidates failed on the holdout and why, and why test
    gave no score."""
    run(problem, iterations=0, seed=3, workers=1, out=tmp_path / "a")
    _without_splits(tmp_path / "a" / "problem" / "evaluator.py")  # what the resume uses
    final = resume_run(tmp_path / "a", extra_iterations=10, reporter=Notes()).final
    assert final is not None
    assert final.holdout_failed == final.candidates and final.holdout_source == "none"
    assert "no holdout instances here" in final.holdout_failure
    assert final.test_score is None and "no test instances here" in final.test_reason
    capsys.readouterr()
    assert main(["status", str(tmp_path / "a")]) == 0
    line = next(text for text in capsys.readouterr().out.splitlines() if "final choice" in text)
    assert f"holdout failed for {final.candidates} of {final.candidates} candidates" in line
    assert "no holdout instances here" in line
    assert "not scored (failed: " in line and "no test instances here" in line


@pytest.mark.parametrize(
    ("split", "guard"),
    [
        ("holdout", '    if split == "holdout":\n        raise KeyError(split)\n'),
        ("test", '    if split == "test":\n        xs = []\n'),  # verify: no predictions
    ],
    ids=["no-holdout", "empty-test"],
)
def test_a_problem_that_cannot_score_a_split_stops_before_the_search(
    problem: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    split: str,
    guard: str,
) -> None:
    """The seed is tried on the holdout and the test split at the start: an evaluator
    without one of them stops the run in one line (exit 2), not after the search."""
    evaluator = problem / "evaluator.py"
    line = "    xs, _ = points(split)\n"
    evaluator.write_text(evaluator.read_text().replace(line, line + guard))
    capsys.readouterr()
    assert main(["run", str(problem), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"evoforge: error: the seed program did not score on the {split} split")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / RunDatabase.FILENAME).exists()


def test_an_evaluator_that_ignores_the_split_is_named_at_the_start(
    problem: Path, tmp_path: Path
) -> None:
    """Every split scored on the search's instances (``split=`` accepted, then ignored):
    the seed has the same metrics everywhere, and the start warns in one line; an
    evaluator that does use it gets no warning."""
    from evoforge.runs import start_run

    layer = {"seed": 3, "run": {"iterations": 2, "log_mode": "quiet"}}
    notes = Notes()
    start_run(problem, cli_layer=layer, run_dir=tmp_path / "honest", reporter=notes)
    assert not [line for line in notes.lines if "same metrics" in line], notes.lines

    evaluator = problem / "evaluator.py"
    evaluator.write_text(evaluator.read_text().replace("= points(split)", '= points("search")'))
    notes = Notes()
    start_run(problem, cli_layer=layer, run_dir=tmp_path / "ignored", reporter=notes)
    warning = "warning: the seed program has the same metrics on the search, holdout and test"
    assert [line for line in notes.lines if line.startswith(warning)], notes.lines


def test_a_seed_slow_on_one_split_is_named_at_the_start(problem: Path, tmp_path: Path) -> None:
    """The test split (the largest) takes the seed most of its time limit: the start says
    which split and what to raise, though the search split is quick."""
    from evoforge.runs import start_run

    evaluator = problem / "evaluator.py"
    slow = '    if split == "test":\n        __import__("time").sleep(2.5)\n'
    evaluator.write_text(
        evaluator.read_text().replace(
            "    xs, _ = points(split)\n", slow + "    xs, _ = points(split)\n"
        )
    )
    layer = {
        "seed": 3,
        "run": {"iterations": 1, "log_mode": "quiet"},
        "evaluator": {"timeout_s": 4},
    }
    notes = Notes()
    start_run(problem, cli_layer=layer, run_dir=tmp_path / "slow", reporter=notes)
    warnings = [line for line in notes.lines if "evaluator.timeout_s" in line]
    assert len(warnings) == 1, notes.lines
    assert warnings[0].startswith("warning: the seed program's evaluation took ")
    assert " s on the test split, " in warnings[0]


def test_a_spent_budget_is_announced_and_falls_back_to_search_scores(
    problem: Path, tmp_path: Path
) -> None:
    notes = Notes()
    from evoforge.runs import start_run

    result = start_run(
        problem,
        cli_layer={
            "seed": 3,
            "run": {"iterations": 8, "log_mode": "quiet"},
            "splits": {"thresholdout": {"budget": 1, "threshold": 0.0, "noise": 0.0}},
        },
        run_dir=tmp_path / "spent",
        reporter=notes,
    )
    final = result.final
    assert final is not None and final.holdout_spent and final.budget_left == 0
    db = RunDatabase(tmp_path / "spent" / RunDatabase.FILENAME)
    try:
        queries = holdout_queries(db)
    finally:
        db.close()
    assert [q["source"] for q in queries] == ["holdout"] + ["exhausted"] * (len(queries) - 1)
    for query in queries[1:]:
        assert query["answer"] == query["search"]
    assert any("budget" in line and "spent" in line for line in notes.lines), notes.lines


SHARED_EVALUATOR = """
import importlib.util

SIZES = {"search": 3, "holdout": 5, "test": 7}


def evaluate(program_path, split="search"):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"combined_score": float(module.value()), "instances": SIZES[split]}
"""


def test_the_shared_process_form_gets_the_split_too(tmp_path: Path) -> None:
    (tmp_path / "evaluator.py").write_text(SHARED_EVALUATOR)
    evaluator = ProblemEvaluator(tmp_path / "evaluator.py", EvaluatorConfig(timeout_s=20))
    try:
        seen = {
            split: evaluator.evaluate("def value():\n    return 0.5\n", split).metrics
            for split in (None, "holdout", "test")
        }
    finally:
        evaluator.close()
    assert {split: metrics["instances"] for split, metrics in seen.items()} == {
        None: 3,
        "holdout": 5,
        "test": 7,
    }


def test_a_shared_process_problem_with_splits_is_told_what_splits_change(
    tmp_path: Path,
) -> None:
    """In the shared-process form the candidate can read the problem directory: the start's
    warning says that this includes the holdout and test instances; and an evaluator's
    cascade, which splits leave unused, is named."""
    from evoforge.runs import SHARED_SPLITS_WARNING, SPLITS_CASCADE_NOTE, start_run

    problem = tmp_path / "shared"
    problem.mkdir()
    (problem / "evaluator.py").write_text(SHARED_EVALUATOR)
    (problem / "initial_program.py").write_text(
        "# EVOLVE-BLOCK-START\ndef value():\n    return 0.5\n# EVOLVE-BLOCK-END\n"
    )
    (problem / "config.yaml").write_text("splits:\n  enabled: true\n")
    notes = Notes()
    layer = {"run": {"iterations": 1, "log_mode": "quiet"}, "operators": {"enabled": ["tune"]}}
    start_run(problem, cli_layer=layer, run_dir=tmp_path / "run", reporter=notes)
    assert SHARED_SPLITS_WARNING in notes.lines
    assert "read the holdout and test instances too" in SHARED_SPLITS_WARNING
    assert SPLITS_CASCADE_NOTE not in notes.lines

    # with a cascade, which splits leave unused (evaluate gets split=, the stages do not)
    stage = "\n\ndef evaluate_stage1(program_path):\n    return evaluate(program_path)\n"
    (problem / "evaluator.py").write_text(SHARED_EVALUATOR + stage)
    notes = Notes()
    start_run(problem, cli_layer=layer, run_dir=tmp_path / "cascade", reporter=notes)
    assert SPLITS_CASCADE_NOTE in notes.lines


def test_a_sigterm_during_the_final_choice_stops_it_as_ctrl_c_does(problem: Path) -> None:
    """A service manager's SIGTERM while the holdout is scored: one note saying how to make
    the choice, the command ends as Ctrl-C ends it (by SIGINT: a shell's 130), and the
    resume makes it."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    evaluator = problem / "evaluator.py"
    evaluator.write_text(
        evaluator.read_text().replace(
            "    xs, _ = points(split)\n",
            "    xs, _ = points(split)\n"
            "    if split != 'search':\n"
            "        import time\n"
            "        time.sleep(1.0)\n",
        )
    )
    run_dir = problem.parent / "run"
    command = [sys.executable, "-m", "evoforge.cli", "run", str(problem), "--out", str(run_dir)]
    process = subprocess.Popen(
        [*command, "--iterations", "4", "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # the loop has ended: the final choice starts now
        if line.startswith("{") and json.loads(line)["event"] == "end":
            break
    for _ in range(1200):  # until the first holdout answer is stored (3 more to come)
        db = RunDatabase(run_dir / RunDatabase.FILENAME)
        try:
            if db.events(QUERY_EVENT):
                break
        finally:
            db.close()
        process.poll()
        assert process.returncode is None, "the run ended before the final choice was seen"
        threading.Event().wait(0.05)
    os.kill(process.pid, signal.SIGTERM)
    rest, errors = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGINT, errors
    notes = [json.loads(line)["message"] for line in rest.splitlines() if '"note"' in line]
    assert f"interrupted during the final choice; 'evoforge resume {run_dir}' makes it" in notes
    status = subprocess.run(
        [sys.executable, "-m", "evoforge.cli", "status", str(run_dir)],
        capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert f"final choice: not made yet (stopped before it); 'evoforge resume {run_dir}'" in (
        status.stdout
    )
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        assert read_final(db) is not None
    finally:
        db.close()


def test_a_choice_the_search_went_on_after_is_shown_as_outdated(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resume that adds iterations and is stopped before choosing again (the search, as
    an interrupted resume leaves it): status and best say the stored choice is outdated
    and how to choose again; the resume that finishes the run makes it current."""
    from evoforge.engine import Engine
    from evoforge.loop import Budget, drive

    run_dir = tmp_path / "a"
    made = _run(problem, run_dir).final
    assert made is not None and made.last_seq is not None
    capsys.readouterr()
    assert main(["status", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["outdated"] is False

    engine = Engine.open(run_dir)
    try:  # the search goes on; no final choice is made after it
        drive(engine, Budget(iterations=engine.counters.iterations + 6), Notes(), 1)
    finally:
        engine.close()
    for command in ("status", "best"):
        assert main([command, str(run_dir), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["splits"]["outdated"] is True
        assert main([command, str(run_dir)]) == 0
        line = next(text for text in capsys.readouterr().out.splitlines() if "final" in text)
        assert "outdated: the search went on after it, and chooses again when it ends" in line
        assert f"('evoforge resume {run_dir}' if it was stopped)" in line

    resumed = resume_run(run_dir, reporter=Notes())
    assert resumed.final is not None and resumed.final.last_seq is not None
    assert resumed.final.last_seq > made.last_seq
    assert main(["status", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["outdated"] is False


def test_the_final_choice_line_prints_failure_reasons_as_they_are(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reasons in the final choice line are an evaluation's own words (a candidate's
    exception message): rich markup is printed as it is, never interpreted, and a control
    character as its escape."""
    run_dir = tmp_path / "a"
    made = _run(problem, run_dir).final
    assert made is not None
    reason = "failed: RuntimeError: [/x] [bold]not bold\x1b[2J"
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        stored = {**made.to_dict(), "holdout_failed": 1, "holdout_failure": reason}
        db.set_state({"final_choice": stored})
    finally:
        db.close()
    capsys.readouterr()
    for command in ("status", "best"):
        assert main([command, str(run_dir)]) == 0
        out = capsys.readouterr().out
        assert "(failed: RuntimeError: [/x] [bold]not bold\\x1b[2J)" in out


def test_a_holdout_query_that_timed_out_is_asked_once_more(problem: Path, tmp_path: Path) -> None:
    """A candidate whose holdout evaluation times out (here: its first one, on an evaluator
    that hangs, as a machine under load can make a program time out once) is put to the
    holdout again at once: both attempts are stored, the second answers, and the choice
    counts no failure."""
    from evoforge.engine import Engine
    from evoforge.loop import Budget, drive
    from evoforge.splits import choose_final

    run_dir = tmp_path / "a"
    run(problem, iterations=0, seed=3, workers=1, out=run_dir)  # the seed alone is asked
    hanging = tmp_path / "hanging"
    shutil.copytree(problem, hanging)
    header = 'def evaluate_candidate(candidate, split="search"):\n'
    guard = '    if split == "holdout":\n        __import__("time").sleep(60)\n'
    evaluator_file = hanging / "evaluator.py"
    evaluator_file.write_text(evaluator_file.read_text().replace(header, header + guard))
    slow = ProblemEvaluator(evaluator_file, EvaluatorConfig(timeout_s=2))
    first_holdout: list[str] = []

    engine = Engine.open(run_dir)
    try:
        drive(engine, Budget(iterations=engine.counters.iterations + 8), Notes(), 1)

        def evaluate(code: str, split: str) -> Any:
            if split == "holdout" and not first_holdout:
                first_holdout.append(code)
                return slow.evaluate(code, split)
            return engine.evaluator.evaluate(code, split)

        final = choose_final(engine.db, evaluate, engine.config.splits, engine.config.seed)
        queries = holdout_queries(engine.db)[1:]
    finally:
        engine.close()
        slow.close()
    assert final is not None and final.holdout_failed == 0
    timed_out = [query for query in queries if query["status"] == EvalStatus.TIMEOUT.value]
    assert first_holdout and len(timed_out) == 1 and timed_out[0]["answer"] is None
    retried = queries[queries.index(timed_out[0]) + 1]
    assert retried["program_id"] == timed_out[0]["program_id"]
    assert retried["status"] == EvalStatus.OK.value and retried["answer"] is not None
    asked = [query["program_id"] for query in queries]
    assert len(asked) == len(set(asked)) + 1  # only that one was asked twice


def test_only_a_timeout_is_asked_again_and_only_up_to_the_attempts() -> None:
    from evoforge.splits import HOLDOUT_ATTEMPTS, _Query, _to_ask

    timeout = _Query("p", None, EvalStatus.TIMEOUT.value, "killed after 3 s")
    failed = _Query("p", None, EvalStatus.FAILED.value, "KeyError: 'holdout'")
    assert _to_ask(None, 0)
    assert _to_ask(timeout, 1) and HOLDOUT_ATTEMPTS == 2
    assert not _to_ask(timeout, HOLDOUT_ATTEMPTS)
    assert not _to_ask(failed, 1)
