"""The ask/tell engine driven by a custom loop, as the README shows."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from evoforge import Engine, EvalStatus, EvaluationResult, load_problem
from evoforge.checks import Rejection
from evoforge.config import resolve_config
from evoforge.engine import EngineError, Job, StepReport
from evoforge.kinds import RejectionKind
from evoforge.program import InsertStatus
from tests.problem_files import write_problem

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "curve_fit"


def _step(engine: Engine, job: Job) -> StepReport:
    """Propose, check and evaluate ``job``'s child and tell the engine, as a custom loop does."""
    proposal = asyncio.run(engine.propose(job))
    rejection = engine.check(job, proposal)
    if rejection is None and proposal is not None:
        return engine.tell(job, proposal, engine.evaluate(proposal.code))
    assert rejection is not None
    return engine.tell(job, proposal, rejection.result())


def test_custom_ask_tell_loop(tmp_path: Path) -> None:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(problem_layer=problem.config_layer, cli_layer={"seed": 4})
    engine = Engine.create(problem, config, tmp_path / "run")
    seed_score = engine.best.score if engine.best else None
    outcomes = []
    try:
        for _ in range(30):
            outcomes.append(_step(engine, engine.ask()))
        assert engine.counters.iterations == 30
        assert engine.db.count_programs() == 31
        assert seed_score is not None and engine.best is not None
        assert engine.best.score is not None and engine.best.score > seed_score
        statuses = {r.outcome.status for r in outcomes if r.outcome is not None}
        assert InsertStatus.NEW_CELL in statuses or InsertStatus.IMPROVED in statuses
        # a reward is paid for every step, and only archive gains earn one
        for report in outcomes:
            gained = report.outcome is not None and report.outcome.status in (
                InsertStatus.NEW_CELL,
                InsertStatus.IMPROVED,
            )
            assert (report.reward > 0) == gained
    finally:
        engine.close()


def test_duplicate_children_are_never_evaluated_twice(tmp_path: Path) -> None:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    engine = Engine.create(
        problem, resolve_config(problem_layer=problem.config_layer), tmp_path / "r"
    )
    try:
        job = engine.ask()
        from evoforge.operators.base import Proposal

        same_as_seed = Proposal(
            code=problem.initial_code.replace("b = 0.1", "b = 0.1  # same"), operator="x"
        )
        assert engine.check(job, same_as_seed) == Rejection(
            RejectionKind.DUPLICATE, "duplicate of a program already evaluated"
        )
        frozen = Proposal(code=problem.initial_code.replace("range(21)", "range(3)"), operator="x")
        rejection = engine.check(job, frozen)
        assert rejection is not None and rejection.kind is RejectionKind.FROZEN_CODE
        assert "frozen code changed" in rejection.reason
        broken = Proposal(code=problem.initial_code.replace("b = 0.1", "b = (0.1"), operator="x")
        rejection = engine.check(job, broken)
        assert rejection is not None and rejection.kind is RejectionKind.SYNTAX
        assert rejection.reason.startswith("syntax error")
        assert engine.check(job, None) == Rejection(
            RejectionKind.NO_CHANGE, f"{job.operator.name} produced no change"
        )
        refused = Proposal(code=problem.initial_code, operator="x", rejection="edit did not apply")
        assert engine.check(job, refused) == Rejection(RejectionKind.OPERATOR, "edit did not apply")
    finally:
        engine.close()


def test_children_using_undefined_names_are_refused_unless_the_check_is_off(
    tmp_path: Path,
) -> None:
    from evoforge.operators.base import Proposal

    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    undefined = Proposal(
        code=problem.initial_code.replace("b = 0.1", "b = 0.1 * slope"), operator="x"
    )
    refusal = Rejection(RejectionKind.UNDEFINED_NAME, "static check: undefined name 'slope'")
    for static_check, expected in ((True, refusal), (False, None)):
        config = resolve_config(
            problem_layer=problem.config_layer,
            cli_layer={"evaluator": {"static_check": static_check}},
        )
        engine = Engine.create(problem, config, tmp_path / f"run-{static_check}")
        try:
            assert engine.check(engine.ask(), undefined) == expected
        finally:
            engine.close()


def test_jobs_asked_before_any_tell_spread_over_the_bandits_arms(tmp_path: Path) -> None:
    """With several jobs in flight, ask counts the ones not yet told: a batch asked before
    any payoff tries each operator (and each parent source) once instead of repeating the
    first arm, and once every operator has paid the same, a batch still spreads."""
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(problem_layer=problem.config_layer, cli_layer={"seed": 2})
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        operators = engine.bandit.arms
        assert engine.parent_bandit is not None and len(operators) >= 3
        sources = engine.parent_bandit.arms
        jobs = [engine.ask() for _ in range(len(operators))]
        assert [job.operator.name for job in jobs] == list(operators)
        expected_sources = [sources[k % len(sources)] for k in range(len(jobs))]
        assert [job.source for job in jobs] == expected_sources
        for job in reversed(jobs):  # told out of order, each paid nothing
            _step_told(engine, job)
        # every operator paid once, nothing: equal ranks, so each job in flight counts
        assert [engine.ask().operator.name for _ in operators] == list(operators)
    finally:
        engine.close()


def _step_told(engine: Engine, job: Job) -> None:
    """Tell ``job`` a failed evaluation without evaluating anything (reward 0)."""
    engine.tell(job, None, EvaluationResult(status=EvalStatus.FAILED, reason="told by the test"))


def test_relatives_come_from_the_window_and_the_index_holds_nothing_older(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evoforge import engine as engine_module
    from evoforge.operators.ast_tools import literal_skeleton
    from evoforge.operators.base import Proposal

    window = 6
    monkeypatch.setattr(engine_module, "_RELATIVES_WINDOW", window)
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(
        problem_layer=problem.config_layer,
        cli_layer={"operators": {"enabled": ["tune"]}, "archive": {"num_islands": 1}},
    )
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        seed = engine.best
        assert seed is not None and seed.score is not None
        told = [(seed.seq, seed.id, literal_skeleton(seed.code), seed.score)]  # seq, id, ...
        for step in range(1, 31):
            job = engine.ask()
            if step % 3:  # the seed's skeleton, another coefficient
                code = problem.initial_code.replace("a = 0.5", f"a = 0.{step + 10}")
            else:  # another skeleton (one more literal)
                code = problem.initial_code.replace("b = 0.1", f"b = 0.1 * {step}.0")
            score = -float((step * 7) % 11)
            report = engine.tell(
                job, Proposal(code=code, operator="tune"), EvaluationResult(EvalStatus.OK, score)
            )
            program = report.program
            told.append((program.seq, program.id, literal_skeleton(code), score))
            parent = engine.ask()
            oldest = program.seq - window
            relatives = parent.context.relatives
            skeleton = literal_skeleton(parent.context.parent.code)
            expected = sorted(
                (entry for entry in told if entry[0] > oldest and entry[2] == skeleton),
                key=lambda entry: (-entry[3], entry[0]),
            )
            assert [p.id for p in relatives] == [entry[1] for entry in expected]
            # nothing committed before the window stays in memory
            held = [p for items in engine._relatives.values() for p in items]
            assert held and all(p.seq > oldest for p in held)
            assert len(held) <= window
            engine.tell(parent, None, Rejection(RejectionKind.OTHER, "unused").result())
    finally:
        engine.close()


def test_failed_children_keep_their_note_and_count_among_the_relatives(tmp_path: Path) -> None:
    from evoforge.operators.base import Proposal

    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(
        problem_layer=problem.config_layer,
        cli_layer={"operators": {"enabled": ["tune"]}, "archive": {"num_islands": 1}},
    )
    note = "tune: 1 literal, gauss, step 1.0e-01"
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        job = engine.ask()
        failing = Proposal(
            code=problem.initial_code.replace("a = 0.5", "a = 0.9"), operator="tune", note=note
        )
        error = "Traceback (most recent call last):\nValueError: non-finite prediction"
        engine.tell(job, failing, EvaluationResult(EvalStatus.FAILED, reason=error))
        job = engine.ask()
        refused = Proposal(code=problem.initial_code.replace("a = 0.5", "a = 0.8"), operator="t")
        rejected = EvaluationResult(EvalStatus.REJECTED, reason="refused by a test")
        engine.tell(job, refused, rejected)
        job = engine.ask()
        scoring = Proposal(
            code=problem.initial_code.replace("a = 0.5", "a = 0.6"), operator="tune", note=note
        )
        engine.tell(job, scoring, EvaluationResult(EvalStatus.OK, score=-1.0, metrics={}))
        failed, unevaluated = engine.db.program("i000001"), engine.db.program("i000002")
        assert failed is not None and failed.reason == f"{note}\n{error}"
        assert unevaluated is not None and unevaluated.reason == "refused by a test"
        assert unevaluated.rejection is RejectionKind.OTHER  # a rejection without a kind
        relatives = [p.id for p in engine.ask().context.relatives]
        # the scored ones best first, then the evaluated failure; never the unevaluated one
        assert sorted(relatives[:2]) == ["i000003", "seed"] and relatives[2:] == ["i000001"]
    finally:
        engine.close()
    reopened = Engine.open(tmp_path / "run")
    try:
        job = reopened.ask()
        assert [p.id for p in job.context.relatives][-1] == "i000001"
        assert "i000002" not in {p.id for p in job.context.relatives}
    finally:
        reopened.close()


def _parents(tmp_path: Path, name: str, archive: dict[str, object]) -> tuple[list[Job], str]:
    """The jobs of 20 steps of the ask/tell loop, and the seed program's id."""
    shutil.copytree(PROBLEM, tmp_path / name)
    problem = load_problem(tmp_path / name)
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer={"seed": 4, "archive": archive}
    )
    engine = Engine.create(problem, config, tmp_path / f"{name}-run")
    try:
        assert engine.seed_program is not None
        jobs = []
        for _ in range(20):
            job = engine.ask()
            jobs.append(job)
            report = _step(engine, job)
            assert report.program.parent_source == job.source  # stored with the child
            stored = engine.db.program(report.program.id)
            assert stored is not None and stored.parent_source == job.source
        return jobs, engine.seed_program.id
    finally:
        engine.close()


def test_the_seed_source_makes_the_seed_program_a_parent_again(tmp_path: Path) -> None:
    always, seed_id = _parents(tmp_path, "always", {"parents": {"sources": ["seed"]}})
    assert {job.parent.id for job in always} == {seed_id}
    assert {job.source for job in always} == {"seed"}
    mixed, seed_id = _parents(tmp_path, "mixed", {})
    assert any(job.parent.id != seed_id for job in mixed)  # the archive's own elites too
    assert len({job.source for job in mixed}) >= 4  # the bandit tries every source
    fixed, _ = _parents(tmp_path, "fixed", {"parents": {"adaptive": False}})
    assert {job.source for job in fixed} == {"fixed"}


def test_children_that_fill_the_final_slot_are_simplified_before_evaluation(
    tmp_path: Path,
) -> None:
    """Once the final pass has nothing to offer, ordinary children take its slot, and each
    is simplified before its check: a best found there carries no dead code either."""
    shutil.copytree(PROBLEM, tmp_path / "problem")
    program = tmp_path / "problem" / "initial_program.py"
    code = program.read_text(encoding="utf-8")
    start = code.index("# EVOLVE-BLOCK-START") + len("# EVOLVE-BLOCK-START\n")
    program.write_text(code[:start] + "UNUSED_COPY = 1.0\nUNUSED_COPY = 2.0\n" + code[start:])
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(
        problem_layer=problem.config_layer,
        cli_layer={"operators": {"enabled": ["tune"]}, "run": {"workers": 1}},
    )
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        seed = engine.best
        assert seed is not None and seed.code.count("UNUSED_COPY =") == 2

        def child_of_seed() -> str:
            asked = engine.ask()
            job = replace(asked, parent=seed, context=replace(asked.context, parent=seed))
            proposal = asyncio.run(engine.propose(job))
            assert proposal is not None and proposal.operator == "tune"
            engine.tell(asked, proposal, EvaluationResult(EvalStatus.FAILED, reason="not run"))
            return proposal.code

        assert child_of_seed().count("UNUSED_COPY =") == 2  # during the run: as made
        assert not engine.simplify_children
        final = asyncio.run(engine.simplify_best())  # the seed's clean version replaces it
        assert final is not None and engine.best is not None
        assert engine.best.id == final.program.id and not engine.simplify_children
        assert asyncio.run(engine.simplify_best()) is None  # nothing left to simplify
        assert engine.simplify_children
        cleaned = child_of_seed()
        assert cleaned.count("UNUSED_COPY =") == 1
        note = engine.db.program(f"i{engine.counters.iterations:06d}")
        assert note is not None and "simplified before evaluation" in note.reason
    finally:
        engine.close()


def test_an_engine_holds_its_runs_lock_until_it_is_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Driving a run by hand (ask/tell) holds the run's lock as ``evoforge run`` does:
    another engine, or ``evoforge resume`` (this process here, another in practice), is
    refused until the first is closed, and then works."""
    from evoforge.cli import main
    from evoforge.runs import RunLockedError

    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(problem_layer=problem.config_layer, cli_layer={"seed": 4})
    run_dir = tmp_path / "run"
    engine = Engine.create(problem, config, run_dir)
    try:
        _step(engine, engine.ask())
        with pytest.raises(RunLockedError, match=r"in use by this process: an Engine of"):
            Engine.open(run_dir)
        assert main(["resume", str(run_dir), "--iterations", "1", "--quiet"]) == 2
        assert "is still open (close() it first)" in capsys.readouterr().err
    finally:
        engine.close()
    reopened = Engine.open(run_dir)
    try:
        assert reopened.counters.iterations == 1
    finally:
        reopened.close()
    assert main(["resume", str(run_dir), "--iterations", "1", "--quiet"]) == 0


def test_a_closed_engine_refuses_work_and_a_with_block_closes_it(tmp_path: Path) -> None:
    """After close() (or the end of a ``with`` block) ask, propose, evaluate and tell raise
    EngineError before touching anything; the run reopens with what was committed."""
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(problem_layer=problem.config_layer, cli_layer={"seed": 4})
    with Engine.create(problem, config, str(tmp_path / "run")) as engine:  # a str path too
        job = engine.ask()
        _step(engine, engine.ask())
    for attempt in (
        engine.ask,
        lambda: asyncio.run(engine.propose(job)),
        lambda: engine.evaluate(problem.initial_code),
        lambda: engine.tell(job, None, EvaluationResult(status=EvalStatus.OK, score=1.0)),
    ):
        with pytest.raises(EngineError, match=r"is closed; Engine\.open"):
            attempt()
    engine.close()  # idempotent
    with Engine.open(str(tmp_path / "run")) as reopened:
        assert reopened.counters.iterations == 1  # the step told; the other job never was


def test_the_archives_metric_dimensions_are_left_out_of_the_score(tmp_path: Path) -> None:
    problem = load_problem(
        write_problem(
            tmp_path / "problem",
            program="# EVOLVE-BLOCK-START\nLENGTH = 40.0\n# EVOLVE-BLOCK-END\n",
            evaluator="def evaluate(program_path):\n    return {'accuracy': 0.8, 'length': 40.0}\n",
        )
    )
    layer = {"archive": {"features": [{"name": "length"}]}}
    config = resolve_config(problem_layer=problem.config_layer, cli_layer=layer)
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        assert engine.best is not None
        assert engine.best.score == pytest.approx(0.8)  # not (0.8 + 40) / 2
    finally:
        engine.close()


def test_iterations_never_told_are_asked_again_so_a_run_has_no_gaps(tmp_path: Path) -> None:
    """A withdrawn job's iteration is the next one asked; a job an earlier invocation
    asked and never told (a kill, an abandoned evaluation) is asked first by a resume."""
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(problem_layer=problem.config_layer, cli_layer={"seed": 4})
    with Engine.create(problem, config, tmp_path / "run") as engine:
        first, second, third = engine.ask(), engine.ask(), engine.ask()
        assert [first.iteration, second.iteration, third.iteration] == [1, 2, 3]
        engine.withdraw(second)
        again = engine.ask()
        assert again.iteration == 2
        _step(engine, third)
        _step(engine, again)  # iteration 1 stays open: the process "dies" with it
    with Engine.open(tmp_path / "run") as resumed:
        assert [resumed.ask().iteration, resumed.ask().iteration] == [1, 4]


def test_an_interrupt_while_one_part_closes_still_closes_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second Ctrl-C that lands while the backend closes: the judge, the database and
    the lock are still released, and the interrupt goes on up."""
    import sqlite3

    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(problem_layer=problem.config_layer, cli_layer={"seed": 4})
    engine = Engine.create(problem, config, tmp_path / "run")

    def interrupted() -> None:
        raise KeyboardInterrupt

    close_backend = engine.backend.close
    monkeypatch.setattr(engine.backend, "close", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.close()
    close_backend()  # what the interrupt cut short, so the test leaves no process behind
    with pytest.raises(sqlite3.ProgrammingError):  # the database was closed all the same
        engine.db.count_programs()
    with Engine.open(tmp_path / "run") as reopened:  # and the lock released
        assert reopened.counters.iterations == 0
