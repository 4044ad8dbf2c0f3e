"""The engine receives its parts; the defaults come from the config through the registry;
ask/tell refuses what it cannot count."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import evoforge
from evoforge import Engine, EvalStatus, EvaluationResult, load_problem
from evoforge.archive.features import FeatureExtractor
from evoforge.archive.islands import Archive
from evoforge.checks import Check, Rejection, SyntaxCheck
from evoforge.config import Config, ConfigError, resolve_config
from evoforge.engine import EngineError, PartsFactory
from evoforge.evaluation.backends.base import EvaluationRequest
from evoforge.evaluation.backends.local import LocalBackend
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.raw import RawEvaluation
from evoforge.kinds import RejectionKind
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.operators.registry import build_operators
from evoforge.operators.tune import TuneOperator
from evoforge.problem import materialise_problem
from evoforge.program import Program
from evoforge.registry import OPERATORS
from evoforge.runs import RunLockedError
from evoforge.selection.bandits import make_bandit
from evoforge.storage.db import RunDatabase

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "curve_fit"


@pytest.fixture
def halve_registered() -> Iterator[None]:
    OPERATORS.register("halve", "tests.plugins.halve:HalveOperator.from_settings")
    yield
    OPERATORS.unregister("halve")


def _problem(tmp_path: Path) -> evoforge.Problem:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    return load_problem(tmp_path / "problem")


def test_a_registered_operator_is_configured_by_name_and_runs(
    tmp_path: Path, halve_registered: None
) -> None:
    problem = _problem(tmp_path)
    config = resolve_config(
        problem_layer=problem.config_layer,
        cli_layer={"operators": {"enabled": ["halve", "tune"]}},
    )
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        assert list(engine.operators) == ["halve", "tune"]
        operators_used = set()
        for _ in range(12):
            report = asyncio.run(engine.run_job(engine.ask()))
            operators_used.add(report.program.operator)
        assert "halve" in operators_used
    finally:
        engine.close()


def test_an_unregistered_name_is_a_config_error_naming_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown operator\(s\) \['halve'\].*'tune'"):
        resolve_config(cli_layer={"operators": {"enabled": ["halve"]}})
    with pytest.raises(ConfigError, match=r"evaluator\.backend: .*unknown evaluation backend"):
        resolve_config(cli_layer={"evaluator": {"backend": "slurm"}})
    with pytest.raises(ConfigError, match=r"archive\.kind: .*unknown archive"):
        resolve_config(cli_layer={"archive": {"kind": "grid"}})


class _RefuseLongCode(Check):
    """A caller's own check: refuses children longer than the seed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def check(self, parent: Program, proposal: Proposal, operator: str) -> Rejection | None:
        if len(proposal.code) > self.limit:
            return Rejection(RejectionKind.OTHER, "longer than the seed")
        return None


class _CountingBackend(LocalBackend):
    """The local backend, counting the requests it answered."""

    def __init__(self, evaluator: ProblemEvaluator) -> None:
        super().__init__(evaluator)
        self.keys: list[str] = []

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        self.keys.append(request.key)
        return await super().evaluate(request)


class _NudgeB(Operator):
    """A caller's own operator, never registered: moves ``b`` by a random step."""

    name = "nudge_b"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        found = re.search(r"b = (\S+)", context.parent.code)
        if found is None:
            return None
        value = float(found.group(1)) + float(context.rng.normal(0.0, 0.2))
        code = context.parent.code.replace(found.group(0), f"b = {value!r}", 1)
        return Proposal(code, self.name)


def _hand_built(backends: list[_CountingBackend]) -> PartsFactory:
    """Parts chosen by hand: an unregistered operator beside ``tune``, a counting backend
    (appended to ``backends``) and a check of the caller's own."""

    def parts(
        problem: evoforge.Problem, config: Config, run_dir: Path, store: RunDatabase
    ) -> Engine:
        judge = ProblemEvaluator(run_dir / "problem" / "evaluator.py", config.evaluator)
        backend = _CountingBackend(judge)
        backends.append(backend)
        operators = {"nudge_b": _NudgeB(), "tune": TuneOperator(config.operators.tune)}
        return Engine(
            problem,
            config,
            run_dir,
            store=store,
            archive=Archive(config.archive),
            operators=operators,
            bandit=make_bandit(list(operators), config.bandit),
            backend=backend,
            judge=judge,
            checks=[SyntaxCheck(), _RefuseLongCode(len(problem.initial_code) + 5)],
            features=FeatureExtractor(config.archive.features),
        )

    return parts


def test_an_engine_of_hand_built_parts_starts_a_run_and_continues_it(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer={"seed": 3, "run": {"proposal_processes": 0}}
    )
    run_dir = tmp_path / "run"
    backends: list[_CountingBackend] = []
    engine = Engine.create(problem, config, run_dir, parts=_hand_built(backends))
    try:
        assert engine.seed_program is not None and engine.best is not None
        assert (run_dir / "problem" / "evaluator.py").is_file()  # the run keeps its problem
        assert engine.db.get_meta("config") == config.model_dump_json()
        with pytest.raises(RunLockedError):  # the engine holds the run's lock
            Engine.open(run_dir)
        first = [asyncio.run(engine.run_job(engine.ask())) for _ in range(6)]
        best_before = engine.best.id
    finally:
        engine.close()
    assert {report.program.operator for report in first} == {"nudge_b", "tune"}
    refused = [r for r in first if r.program.rejection is RejectionKind.OTHER]
    assert all(r.program.reason == "longer than the seed" for r in refused)
    # the seed and every evaluated child went through the given backend
    evaluated = [r.program.id for r in first if r.evaluated]
    assert backends[0].keys[1:] == evaluated

    engine = Engine.open(run_dir, parts=_hand_built(backends))
    try:
        assert len(backends) == 2
        assert engine.counters.iterations == 6
        assert engine.best is not None and engine.best.id == best_before
        job = engine.ask()
        assert job.iteration == 7  # the run goes on where it stopped
        later = [asyncio.run(engine.run_job(job))]
        later += [asyncio.run(engine.run_job(engine.ask())) for _ in range(2)]
        assert backends[1].keys == [r.program.id for r in later if r.evaluated]
    finally:
        engine.close()
    store = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        assert store.count_programs() == 10  # the seed and nine children, one run
    finally:
        store.close()


def test_an_engine_built_outside_create_and_open_refuses_to_ask(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer={"run": {"proposal_processes": 0}}
    )
    run_dir = tmp_path / "run"
    materialise_problem(problem.files, run_dir / "problem")
    store = RunDatabase(run_dir / RunDatabase.FILENAME, create=True)
    engine = _hand_built([])(problem, config, run_dir, store)
    try:
        with pytest.raises(EngineError, match=r"no seed.*Engine\.create\(.*parts=\.\.\.\)"):
            engine.ask()
    finally:
        engine.close()


def test_parts_that_fail_or_build_another_run_leave_nothing_behind(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer={"run": {"proposal_processes": 0}}
    )
    run_dir = tmp_path / "run"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def raising(
        problem: evoforge.Problem, config: Config, run_dir: Path, store: RunDatabase
    ) -> Engine:
        raise RuntimeError("no cluster today")

    def over_another_store(
        problem: evoforge.Problem, config: Config, run_dir: Path, store: RunDatabase
    ) -> Engine:
        other = RunDatabase(elsewhere / RunDatabase.FILENAME, create=True)
        return _hand_built([])(problem, config, run_dir, other)

    with pytest.raises(RuntimeError, match="no cluster today"):
        Engine.create(problem, config, run_dir, parts=raising)
    assert not (run_dir / RunDatabase.FILENAME).exists()
    with pytest.raises(EngineError, match="parts built an engine with another store"):
        Engine.create(problem, config, run_dir, parts=over_another_store)
    assert not (run_dir / RunDatabase.FILENAME).exists()
    with pytest.raises(EngineError, match="parts built int, not an Engine"):
        Engine.create(problem, config, run_dir, parts=lambda *_: 7)  # type: ignore[arg-type,return-value]
    # the lock was released each time: the run starts
    engine = Engine.create(problem, config, run_dir, parts=_hand_built([]))
    engine.close()


def test_an_engine_refuses_operators_the_bandit_does_not_know(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    config = resolve_config(problem_layer=problem.config_layer)
    store = RunDatabase(tmp_path / RunDatabase.FILENAME, create=True)
    judge = ProblemEvaluator(problem.evaluator_path, config.evaluator)
    try:
        with pytest.raises(EngineError, match="not arms of the bandit"):
            Engine(
                problem,
                config,
                tmp_path,
                store=store,
                archive=Archive(config.archive),
                operators=build_operators(config.operators),
                bandit=make_bandit(["tune"], config.bandit),
                backend=LocalBackend(judge),
                judge=judge,
                checks=[],
                features=FeatureExtractor(config.archive.features),
            )
    finally:
        store.close()


def test_tell_is_refused_without_its_ask_or_a_second_time(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    config = resolve_config(problem_layer=problem.config_layer)
    engine = Engine.create(problem, config, tmp_path / "run")
    other = Engine.create(problem, config, tmp_path / "other")
    try:
        job = engine.ask()
        child = Proposal(problem.initial_code.replace("a = 0.5", "a = 0.7"), job.operator.name)
        report = engine.tell(job, child, engine.evaluate(child.code))
        assert report.evaluated and engine.db.count_programs() == 2
        with pytest.raises(EngineError, match="told already"):
            engine.tell(job, child, engine.evaluate(child.code))
        other.ask()
        ahead = other.ask()  # iteration 2: this engine has not asked it
        with pytest.raises(EngineError, match="never asked"):
            engine.tell(ahead, child, EvaluationResult(EvalStatus.FAILED, reason="x"))
        pending = engine.ask()  # iteration 2 here: open, but ``ahead`` is not this job
        with pytest.raises(EngineError, match="never asked"):
            engine.tell(ahead, None, EvaluationResult(EvalStatus.FAILED, reason="x"))
        assert engine.db.count_programs() == 2  # nothing refused was committed
        rejection = engine.check(pending, None)
        assert rejection is not None
        rejected = engine.tell(pending, None, rejection.result())
        assert not rejected.evaluated and rejected.program.rejection is RejectionKind.NO_CHANGE
        assert engine.counters.evaluations == 2  # the seed and one child; the rejection is not
        stored = engine.db.program(rejected.program.id)
        assert stored is not None and stored.rejection is RejectionKind.NO_CHANGE
    finally:
        engine.close()
        other.close()


def test_tell_with_arguments_of_the_wrong_kind_keeps_the_job(tmp_path: Path) -> None:
    """A tell given None for the result (or something else that is no result, job or
    proposal) is refused before the job is used up: the right tell then goes through."""
    problem = _problem(tmp_path)
    config = resolve_config(problem_layer=problem.config_layer)
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        job = engine.ask()
        child = Proposal(problem.initial_code.replace("a = 0.5", "a = 0.7"), job.operator.name)
        with pytest.raises(EngineError, match="result must be EvaluationResult, got NoneType"):
            engine.tell(job, child, None)  # type: ignore[arg-type]
        with pytest.raises(EngineError, match="job must be Job"):
            engine.tell(None, child, engine.evaluate(child.code))  # type: ignore[arg-type]
        with pytest.raises(EngineError, match="proposal must be a Proposal or None"):
            engine.tell(job, child.code, engine.evaluate(child.code))  # type: ignore[arg-type]
        assert engine.db.count_programs() == 1
        report = engine.tell(job, child, engine.evaluate(child.code))
        assert report.evaluated and engine.db.count_programs() == 2
    finally:
        engine.close()


def test_evaluated_follows_from_the_status() -> None:
    assert not EvaluationResult(EvalStatus.REJECTED).evaluated
    for status in (EvalStatus.OK, EvalStatus.FAILED, EvalStatus.TIMEOUT, EvalStatus.INVALID):
        assert EvaluationResult(status).evaluated


def test_evaluate_works_from_a_thread_that_runs_an_event_loop(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    engine = Engine.create(
        problem, resolve_config(problem_layer=problem.config_layer), tmp_path / "r"
    )
    try:

        async def from_a_notebook_cell() -> EvaluationResult:
            return engine.evaluate(problem.initial_code)

        result = asyncio.run(from_a_notebook_cell())
        assert result.status is EvalStatus.OK and result.score is not None
    finally:
        engine.close()
