"""The engine: ask/tell, and the only place where the parts are wired together.

``ask()`` picks an island, a parent, inspirations and an operator (the bandit's choice)
and returns a :class:`Job`. The caller runs the job's operator, checks and evaluates the
child (:meth:`Engine.check`, :meth:`Engine.evaluate`, or all at once with
:meth:`Engine.run_job`) and hands the result to ``tell()``, which inserts it into the
archive, pays the bandit and commits the step to the run database before it counts.

Randomness: every decision of iteration ``i`` draws from generators seeded with
``(seed, i, purpose)``, so a sequential run is reproducible and a resumed run continues
exactly where the database says it stopped. The archive is rebuilt on open by replaying
the committed inserts and migrations; the bandit's state is stored with every step.

Prompts that learn (:mod:`evoforge.operators.prompt_learning`): ``ask`` chooses the
instruction, inspiration policy and note of a language-model job, and attaches the
requests about the run that its iteration is due to carry (a new instruction, a run
note); :meth:`Engine.propose` sends those first, and ``tell`` adds their answers to the
learner, pays its bandits and commits its state with the step.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import shutil
import sqlite3
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from evoforge.archive.features import FeatureExtractor
from evoforge.archive.islands import Archive
from evoforge.archive.parents import ParentPick, pick_parent
from evoforge.archive.stagnation import StagnationAction, StagnationMonitor
from evoforge.blocking import run_to_completion
from evoforge.checks import Check, Rejection, default_checks
from evoforge.config import Config, check_endpoint_url, config_to_yaml, validate_config
from evoforge.cpus import usable_cpus
from evoforge.evaluation.backends.base import (
    BackendError,
    EvaluationBackend,
    EvaluationRequest,
    evaluate_on,
)
from evoforge.evaluation.environment import sanitized_environment
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.sandbox import SandboxLimits, filesystem_isolation
from evoforge.evaluation.sandbox.jail import shown_by_system_binds
from evoforge.evaluation.sandbox.probes import limits_out_of_reach
from evoforge.facts import ChildFacts, FactsSettings, child_facts
from evoforge.kinds import RejectionKind, StopReason
from evoforge.llm.records import LLMCallRecord
from evoforge.novelty import EmbeddingNoveltyIndex, NoveltyIndex, decode_vector, encode_vector
from evoforge.operators.ast_tools import literal_skeleton
from evoforge.operators.base import Operator, Proposal, ProposalContext, run_operator
from evoforge.operators.dead_code import entry_point_names
from evoforge.operators.llm import LLMServices
from evoforge.operators.matching import MatchKind
from evoforge.operators.meta_prompts import OPERATOR_INSTRUCTION, OPERATOR_RUN_NOTE, ask_model
from evoforge.operators.pool import ProposalPool, propose_with_facts
from evoforge.operators.prompt_learning import TASK_INSTRUCTION, MetaRequest, PromptLearner
from evoforge.operators.registry import build_operators
from evoforge.operators.run_digest import ResultEntry
from evoforge.operators.simplify import SimplifyOperator, simplify_program
from evoforge.problem import EVALUATOR_FILENAME, Problem, materialise_problem
from evoforge.program import (
    EvalStatus,
    EvaluationResult,
    InsertOutcome,
    InsertStatus,
    Program,
    code_hash,
)
from evoforge.registry import ARCHIVES, BACKENDS, FEATURES, OPERATORS, PartError
from evoforge.seed_failure import seed_failure, slow_seed_notice
from evoforge.seeding import IterationSeeds, Reseeded, seeded_generator
from evoforge.selection.bandits import Bandit, make_bandit
from evoforge.selection.rewards import reward_from_outcome
from evoforge.splits import SEARCH, check_seed, search_split
from evoforge.storage.db import DatabaseError, EncodedJSON, RunDatabase

if TYPE_CHECKING:
    from evoforge.runs import RunLock

__all__ = ["Engine", "EngineError", "Job", "PartsFactory", "StepReport", "build_llm"]

_RNG_SELECT = 0
_RNG_OPERATOR = 1
_RNG_MIGRATE = 2
_RNG_PROMPT = 3
_RNG_META = 4
_MAX_RELATIVES = 32
# Evaluated children that failed, kept apart so that failures never crowd out the scored.
_MAX_FAILED_RELATIVES = 16
# Relatives come from the most recent programs only, which bounds memory on long runs.
_RELATIVES_WINDOW = 2000
# Skeletons of programs past the window are forgotten once this many more are known.
_SKELETON_SLACK = 256
_RECENT_PER_ISLAND = 12
_POOL_SIZE = 16
_PROBLEM_SUBDIR = "problem"
FINAL_SOURCE = "final"
"""``Program.parent_source`` of the simplification offered to the best as the run ends."""
FIXED_SOURCE = "fixed"
"""``Program.parent_source`` under fixed parent selection (``archive.parents.adaptive``)."""

PartsFactory = Callable[[Problem, Config, Path, RunDatabase], "Engine"]
"""What :meth:`Engine.create` and :meth:`Engine.open` call to build the engine of a run:
``parts(problem, config, run_dir, store)``, with :meth:`Engine.from_config`'s signature.
It returns an :class:`Engine` over the ``store`` and ``run_dir`` it is given, with the
``config`` it is given, built from whatever parts the caller chooses."""


def _drop_before(items: deque[Program], oldest: int) -> None:
    """Drop the programs of ``items`` (oldest first) committed at or before ``oldest``."""
    while items and items[0].seq <= oldest:
        items.popleft()


def _drop_stale_skeletons(index: OrderedDict[str, deque[Program]], oldest: int) -> None:
    """Drop the skeletons of ``index`` whose newest program was committed at or before
    ``oldest``. Programs are appended in commit order and a skeleton moves to the end when
    one is appended, so the stale skeletons are the first ones."""
    while index:
        key = next(iter(index))
        items = index[key]
        _drop_before(items, oldest)
        if items:
            return
        del index[key]


def _better_best(program: Program, best: Program) -> bool:
    """Whether ``program`` replaces ``best`` as the run's best: a higher score, or the same
    score from ``simplify`` (the same behaviour, cleaner code) where the best is not one
    already. :meth:`RunDatabase.best_program` orders programs the same way."""
    score, incumbent = (program.score or 0.0), (best.score or 0.0)
    if score != incumbent:
        return score > incumbent
    return program.operator == SimplifyOperator.name and best.operator != SimplifyOperator.name


class EngineError(RuntimeError):
    """The run cannot start or continue (bad seed program, unusable run directory)."""


@dataclass(frozen=True)
class Job:
    """One unit of work handed out by :meth:`Engine.ask`."""

    iteration: int
    island: int
    parent: Program
    operator: Operator
    context: ProposalContext
    meta: tuple[MetaRequest, ...] = ()
    meta_answers: dict[str, str] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class StepReport:
    """What :meth:`Engine.tell` committed, with the events it recorded."""

    program: Program
    outcome: InsertOutcome | None
    reward: float
    new_best: bool
    evaluated: bool
    events: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass
class _Counters:
    iterations: int = 0
    evaluations: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class Engine:
    """Ask/tell evolution over one run directory. Use from one thread (the event loop);
    :meth:`evaluate` alone may run in worker threads.

    The engine receives its parts and wires them; it builds none of them.
    :meth:`from_config` (and :meth:`create` and :meth:`open`, which call it) builds the
    defaults a configuration names: the run store, an archive, the operators, the
    operator bandit, the evaluation backend (the sandboxed half of an evaluation) with the
    judge that scores what it returns, the checks before evaluation, the feature
    extractor and, when an ``llm_*`` operator is enabled, the language-model services.

    An engine composed by hand starts or continues a run the same way: ``create`` and
    ``open`` take a ``parts`` factory (:data:`PartsFactory`) that builds it instead of
    ``from_config``, and do the rest as for any run (the lock, the stored config and
    problem files, the seed, the replay). An engine constructed outside them has no
    seed, and :meth:`ask` refuses it.
    """

    def __init__(
        self,
        problem: Problem,
        config: Config,
        run_dir: Path,
        *,
        store: RunDatabase,
        archive: Archive,
        operators: Mapping[str, Operator],
        bandit: Bandit,
        backend: EvaluationBackend,
        judge: ProblemEvaluator,
        checks: Sequence[Check],
        features: FeatureExtractor,
        llm: LLMServices | None = None,
        learning: PromptLearner | None = None,
        novelty: NoveltyIndex | EmbeddingNoveltyIndex | None = None,
    ) -> None:
        if not operators:
            raise EngineError("the engine needs at least one operator")
        missing = [name for name in operators if name not in bandit.arms]
        if missing:
            raise EngineError(f"operators {missing} are not arms of the bandit")
        self.problem = problem
        self.config = config
        self.run_dir = run_dir
        # warnings from scoring the seed at the start (a slow seed; its splits' check)
        self.start_notices: list[str] = []
        self.db = store
        self.llm = llm
        self.operators: dict[str, Operator] = dict(operators)
        self.checks: tuple[Check, ...] = tuple(checks)
        self.learning = learning
        self.novelty = novelty
        self.facts_settings = FactsSettings(
            initial_code=problem.initial_code,
            static_check=config.evaluator.static_check,
            novelty=config.novelty if isinstance(novelty, NoveltyIndex) else None,
            complexity=any(f.name == "complexity" for f in config.archive.features),
        )
        self.proposals = _proposal_pool(config, self.facts_settings)
        self._recent: dict[int, deque[Program]] = {}
        self._stagnation: dict[int, int] = {}
        self._island_best: dict[int, float] = {}
        self.bandit = bandit
        self.archive = archive
        self.features = features
        self.backend = backend
        self.evaluator = judge
        parents = config.archive.parents
        self.parent_bandit: Bandit | None = (
            make_bandit(list(parents.sources), config.bandit) if parents.adaptive else None
        )
        self.stagnation = StagnationMonitor(config.archive.stagnation, config.archive.num_islands)
        self.protected_names = entry_point_names(
            problem.initial_code,
            problem.files.get(EVALUATOR_FILENAME, b"").decode("utf-8", "replace"),
        )
        self._final_pass: tuple[str, Proposal | None] | None = None
        # set once the final pass found nothing to simplify: the children that fill its
        # slot are simplified before their check (see :meth:`simplify_best`)
        self.simplify_children = False
        self.counters = _Counters()
        self._next_iteration = 1
        # iterations below _next_iteration never told (withdrawn, or lost with a stopped
        # run): asked again first, lowest first, so that a run's iterations have no gaps
        self._iterations_to_ask_again: list[int] = []
        self._next_seq = 0
        self._open_jobs: dict[int, Job] = {}
        self._proposing: set[int] = set()  # iterations whose child is still being made
        self._run_lock: RunLock | None = None  # taken by create()/open(), released by close()
        self._closed = False
        # per bandit arm, the jobs asked and not yet told that will pay it (the final
        # simplification pays neither bandit and is not counted)
        self._operators_in_flight: Counter[str] = Counter()
        self._sources_in_flight: Counter[str] = Counter()
        # skeleton -> its relatives, oldest first; the skeleton appended to longest ago first
        self._relatives: OrderedDict[str, deque[Program]] = OrderedDict()
        self._failed_relatives: OrderedDict[str, deque[Program]] = OrderedDict()
        self._unindexed: deque[tuple[Program, str]] = deque()  # skeleton "" where not known
        self._skeletons: dict[str, tuple[int, str]] = {}  # program id -> (seq, skeleton)
        self._latest_scored_seq = 0
        self._best: Program | None = None
        self._seed: Program | None = None
        self._novelty_gave_up_recorded = False
        self._stored_vectors: dict[str, np.ndarray] = {}
        self._selection = Reseeded()
        self._seeds = IterationSeeds(config.seed)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, problem: Problem, config: Config, run_dir: Path, store: RunDatabase
    ) -> Engine:
        """The engine with the default parts ``config`` names, over ``store``.

        Every part is looked up by name in :mod:`evoforge.registry`, so a new operator,
        feature, archive or backend needs one module and one registration, nothing here.
        Refuses (:class:`EngineError`) a problem or run directory that every jail would
        show its candidates (inside ``/usr`` and the like).
        A part whose registration does not load or whose builder raises is refused with
        an :class:`EngineError` naming its entry, after closing what was built before it.
        """
        _refuse_directories_in_sight(problem.directory, run_dir)
        _refuse_limits_out_of_reach(config)
        llm = build_llm(problem, config)
        try:
            operators = build_operators(config.operators, llm)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        judge = ProblemEvaluator(
            run_dir / _PROBLEM_SUBDIR / EVALUATOR_FILENAME,
            config.evaluator,
            feature_names=[feature.name for feature in config.archive.features],
        )
        try:
            backend: EvaluationBackend = BACKENDS.build(
                config.evaluator.backend,
                lambda backend_class: backend_class.from_config(config.evaluator, judge),
                passthrough=(BackendError,),
            )
        except BaseException as exc:
            judge.close()
            if isinstance(exc, BackendError | PartError):
                raise EngineError(str(exc)) from None
            raise
        try:
            novelty = build_novelty(config)
            return cls(
                problem,
                config,
                run_dir,
                store=store,
                archive=ARCHIVES.build(config.archive.kind, lambda kind: kind(config.archive)),
                operators=operators,
                bandit=make_bandit(list(operators), config.bandit),
                backend=backend,
                judge=judge,
                checks=default_checks(config, problem.initial_code, store.has_hash, novelty),
                features=FeatureExtractor(config.archive.features),
                llm=llm,
                learning=build_prompt_learner(config, llm),
                novelty=novelty,
            )
        except BaseException as exc:  # what was built before goes with the start
            backend.close()
            judge.close()
            if isinstance(exc, PartError):
                raise EngineError(str(exc)) from None
            raise

    @classmethod
    def create(
        cls,
        problem: Problem,
        config: Config,
        run_dir: str | Path,
        on_seed: Callable[[EvaluationResult], None] | None = None,
        *,
        locked: bool = False,
        parts: PartsFactory | None = None,
    ) -> Engine:
        """Start a new run in ``run_dir`` and score the seed (:meth:`_create`).

        The engine holds the run's lock (``run.lock``, as ``evoforge run`` does) until
        :meth:`close`, so no other process drives the run meanwhile (``RunLockedError``,
        an :class:`EngineError`, when one does); ``locked``: the caller holds it already.
        ``parts`` builds the engine instead of :meth:`from_config` (an engine composed by
        hand, :data:`PartsFactory`); it is called once the problem's files are copied to
        ``run_dir / "problem"`` (the evaluator a judge should read) and the store holds the
        config, and before the seed is scored.
        """
        directory = Path(run_dir)
        return _holding_lock(
            directory, locked, lambda: cls._create(problem, config, directory, on_seed, parts)
        )

    @classmethod
    def _create(
        cls,
        problem: Problem,
        config: Config,
        run_dir: Path,
        on_seed: Callable[[EvaluationResult], None] | None = None,
        parts: PartsFactory | None = None,
    ) -> Engine:
        """Start a new run in ``run_dir`` and score the seed.

        ``run_dir`` must not hold a run yet; a database left by a start that was stopped
        before its seed was committed (Ctrl-C or ``kill -9`` while the seed was scored)
        holds no progress and is replaced. The configuration and the problem files are
        stored before the seed is scored, and the seed's commit is the last write, so a
        start stopped at any moment leaves either nothing to resume or a run that
        :meth:`open` completes (it scores the seed first).
        """
        db_path = run_dir / RunDatabase.FILENAME
        if db_path.exists():
            held = _holds_started_run(db_path)
            if held == "unreadable":
                raise EngineError(
                    f"{run_dir} holds a run database SQLite cannot read; move it away, or "
                    "pass --fresh to replace the run"
                )
            if held:
                raise EngineError(f"{run_dir} already holds a run; use 'evoforge resume {run_dir}'")
            _remove_database(db_path)
        run_dir.mkdir(parents=True, exist_ok=True)
        problem_copy = run_dir / _PROBLEM_SUBDIR
        if problem_copy.exists():
            shutil.rmtree(problem_copy)
        materialise_problem(problem.files, problem_copy)
        database = RunDatabase(db_path, create=True)
        try:
            database.store_problem_files(problem.files)
            database.set_meta(
                {
                    "config": config.model_dump_json(),
                    "config_yaml": config_to_yaml(config),
                    "problem_name": problem.name,
                    "problem_dir": str(problem.directory),
                    "created_at": repr(time.time()),
                }
            )
            engine = _built(parts or cls.from_config, problem, config, run_dir, database)
        except BaseException:
            database.close()
            _remove_database(db_path)
            raise
        database.set_meta({"isolation": engine.evaluator.form})
        if engine.proposals is not None:
            engine.proposals.start()  # the workers get ready while the seed is scored
        try:
            result = engine.evaluate(problem.initial_code)
        except BaseException:  # a Ctrl-C: the run stays, for open() to finish
            engine.close()
            raise
        if on_seed is not None:
            on_seed(result)
        try:
            failure = engine._start_failure(result)
        except BaseException:  # a Ctrl-C: the run stays, for open() to finish
            engine.close()
            raise
        if failure is not None:
            engine.close()
            _remove_database(db_path)
            raise EngineError(failure)
        try:
            engine._commit_seed(result)
        except BaseException:  # nothing was committed: no run to resume
            engine.close()
            _remove_database(db_path)
            raise
        return engine

    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        config_override: Config | None = None,
        *,
        llm_base_url: str | None = None,
        ray_address: str | None = None,
        check_config: Callable[[Config], None] | None = None,
        locked: bool = False,
        parts: PartsFactory | None = None,
    ) -> Engine:
        """Reopen a run (:meth:`_open`), holding its lock until :meth:`close` as
        :meth:`create` does (``locked``: the caller holds it already). ``parts`` builds
        the engine instead of :meth:`from_config`, as in :meth:`create`: a run started by
        hand-built parts continues with the same parts, over the stored config."""
        run_dir = Path(run_dir)
        db_path = run_dir / RunDatabase.FILENAME
        if not db_path.exists():
            raise DatabaseError(f"no run database at {db_path}")
        return _holding_lock(
            run_dir,
            locked,
            lambda: cls._open(
                run_dir,
                config_override,
                llm_base_url=llm_base_url,
                ray_address=ray_address,
                check_config=check_config,
                parts=parts,
            ),
        )

    @classmethod
    def _open(
        cls,
        run_dir: Path,
        config_override: Config | None = None,
        *,
        llm_base_url: str | None = None,
        ray_address: str | None = None,
        check_config: Callable[[Config], None] | None = None,
        parts: PartsFactory | None = None,
    ) -> Engine:
        """Reopen a run: rebuild the archive, bandit and counters from the database.

        ``llm_base_url`` moves every model of the run to that endpoint (a server that
        came back elsewhere), ``ray_address`` its evaluations to that Ray cluster (a run
        on the ray backend whose cluster came back elsewhere); each is stored once the
        engine is built, so later resumes use it too.
        ``check_config`` sees the configuration the run will use before anything is
        stored or started (the start-up check of its models); what it raises stops the
        reopening with the database unchanged.
        """
        db_path = run_dir / RunDatabase.FILENAME
        database = RunDatabase(db_path)
        stored = database.get_meta("config")
        if stored is None:
            database.close()
            raise EngineError(
                f"{run_dir} holds no run to resume: its start was stopped before the run "
                f"was set up; start it again with 'evoforge run PROBLEM_DIR --out {run_dir}'"
            )
        config = config_override or validate_config(json.loads(stored), "stored config")
        if llm_base_url is not None:
            if not config.llm.models:
                database.close()
                raise EngineError(f"{run_dir}: the run uses no language model to move")
            try:
                check_endpoint_url(llm_base_url)
            except ValueError as exc:
                database.close()
                raise EngineError(f"--llm-base-url: {exc}") from None
            models = [m.model_copy(update={"base_url": llm_base_url}) for m in config.llm.models]
            config = config.model_copy(
                update={"llm": config.llm.model_copy(update={"models": models})}
            )
        if ray_address is not None:
            if config.evaluator.backend != "ray":
                database.close()
                raise EngineError(
                    f"{run_dir}: the run evaluates on the {config.evaluator.backend} "
                    "backend, not on Ray: --ray-address does not apply"
                )
            evaluator = config.evaluator.model_copy(update={"ray_address": ray_address})
            config = config.model_copy(update={"evaluator": evaluator})
        if check_config is not None:
            try:
                check_config(config)
            except BaseException:
                database.close()
                raise
        files = database.problem_files()
        problem_copy = run_dir / _PROBLEM_SUBDIR
        if not (problem_copy / EVALUATOR_FILENAME).is_file():
            materialise_problem(files, problem_copy)
        problem = Problem(
            directory=Path(database.get_meta("problem_dir") or str(problem_copy)),
            name=database.get_meta("problem_name") or run_dir.name,
            initial_code=files.get("initial_program.py", b"").decode("utf-8"),
            evaluator_path=problem_copy / EVALUATOR_FILENAME,
            files=files,
        )
        try:
            engine = _built(parts or cls.from_config, problem, config, run_dir, database)
        except BaseException:
            database.close()
            raise
        if llm_base_url is not None or ray_address is not None:
            try:
                database.set_meta(
                    {"config": config.model_dump_json(), "config_yaml": config_to_yaml(config)}
                )
            except BaseException:
                engine.close()
                raise
        if engine.proposals is not None:
            engine.proposals.start()  # the workers get ready while the run is replayed
        if database.count_programs() == 0:  # its start stopped before the seed's commit
            engine._finish_start()
            return engine
        engine._replay()
        return engine

    def _finish_start(self) -> None:
        """Score and commit the seed of a run whose start was stopped before that."""
        self.db.set_meta({"isolation": self.evaluator.form})
        try:
            result = self.evaluate(self.problem.initial_code)
        except BaseException:
            self.close()
            raise
        try:
            failure = self._start_failure(result)
        except BaseException:
            self.close()
            raise
        if failure is not None:
            self.close()
            raise EngineError(failure)
        try:
            self._commit_seed(result)
        except BaseException:
            self.close()
            raise

    def _start_failure(self, seed: EvaluationResult) -> str | None:
        """Why a run whose seed scored ``seed`` cannot start, or ``None``: the seed did not
        score, or (a problem with instance splits) it does not score on the holdout or the
        test split (:func:`evoforge.splits.check_seed`). Its warnings go to
        :attr:`start_notices`: the splits' check, and a seed that took more than half of
        ``evaluator.timeout_s`` on some split (:func:`evoforge.seed_failure.slow_seed_notice`)."""
        if seed.status is not EvalStatus.OK or seed.score is None:
            return seed_failure(seed, self.config.evaluator, self.evaluator.program_filename)
        durations: Mapping[str, float] = {SEARCH: seed.duration_s}
        if self.config.splits.enabled:
            check = check_seed(self.evaluator.evaluate, self.problem.initial_code, seed)
            if check.failure is not None:
                return check.failure
            self.start_notices += [check.warning] if check.warning is not None else []
            durations = check.durations
        slow = slow_seed_notice(
            durations,
            self.config.evaluator.timeout_s,
            retime=lambda: self.evaluate(self.problem.initial_code).duration_s,
            tasks=(
                {split: self.evaluator.tasks_in(split) for split in durations}
                if self.config.splits.enabled
                else None
            ),
        )
        self.start_notices += [slow] if slow is not None else []
        return None

    def close(self) -> None:
        """Release the proposal workers, the backend's workers, the judge's processes, the
        run store and the run's lock (when this engine took it). Idempotent; the engine
        refuses work afterwards (:class:`EngineError`)."""
        if self._closed:
            return
        self._closed = True
        lock, self._run_lock = self._run_lock, None
        parts: list[Callable[[], None]] = [
            *([self.proposals.close] if self.proposals is not None else []),
            self.backend.close,
            self.evaluator.close,
            self.db.close,
            *([lock.release] if lock is not None else []),
        ]
        # each part is released whatever happens to the one before (a second Ctrl-C
        # while the first closes must not leave the rest running); the first error wins
        failure: BaseException | None = None
        for release in parts:
            try:
                release()
            except BaseException as exc:  # re-raised below, once all have run
                failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise EngineError(
                f"this engine of {self.run_dir} is closed; Engine.open(run_dir) reopens the run"
            )

    # -- properties -----------------------------------------------------------------------

    @property
    def best(self) -> Program | None:
        return self._best

    @property
    def seed_program(self) -> Program | None:
        return self._seed

    # -- ask ------------------------------------------------------------------------------

    def ask(self) -> Job:
        """Choose the next job. Deterministic given the committed history and the jobs
        asked and not yet told (the bandits count those as pulls in flight, so that a batch
        of asks spreads over the arms)."""
        self._refuse_if_closed()
        if self._seed is None:
            raise EngineError(
                "this engine's run has no seed: an engine built by hand starts its run with "
                "Engine.create(problem, config, run_dir, parts=...) and continues it with "
                "Engine.open(run_dir, parts=...)"
            )
        if self._iterations_to_ask_again:
            iteration = heapq.heappop(self._iterations_to_ask_again)
        else:
            iteration = self._next_iteration
            self._next_iteration += 1
        # used up before ask returns, so one generator reseeded per call will do
        rng = self._selection.seeded(
            (self.config.seed, iteration, _RNG_SELECT), self._seeds.words(iteration, _RNG_SELECT)
        )
        island = (iteration - 1) % self.config.archive.num_islands
        source, pick = self._choose_parent(island, rng)
        parent = pick.parent
        inspiration_config = self.config.archive.inspirations
        inspirations = (
            list(pick.inspirations)
            if pick.inspirations is not None
            else self.archive.sample_inspirations(
                parent, island, rng, inspiration_config.count, inspiration_config.policy
            )
        )
        operator = self.operators[self.bandit.select(rng, self._operators_in_flight)]
        if _uses_models(operator.name) and self._symbolic_instead():
            symbolic = [name for name in self.operators if not _uses_models(name)]
            operator = self.operators[symbolic[int(rng.integers(len(symbolic)))]]
        self._operators_in_flight[operator.name] += 1  # the arm tell will pay
        self._sources_in_flight[source] += 1
        pool: list[Program] = []
        recent: tuple[Program, ...] = ()
        if operator.uses_prompt_material:
            pool = sorted(self.archive.elites(island), key=lambda p: (-(p.score or 0.0), p.seq))
            recent = tuple(self._recent.get(island, ()))
        guidance = None
        meta: tuple[MetaRequest, ...] = ()
        if self.learning is not None:
            if _uses_models(operator.name):
                guidance = self.learning.guidance(
                    self._rng(iteration, _RNG_PROMPT), operator.name != "llm_crossover"
                )
            if not self._symbolic_instead():
                meta = self.learning.requests_due(iteration)
        context = ProposalContext(
            parent=parent,
            rng=self._rng(iteration, _RNG_OPERATOR),
            inspirations=tuple(inspirations),
            relatives=tuple(self._relatives_of(parent)) if operator.uses_relatives else (),
            island=island,
            iteration=iteration,
            pool=tuple(pool[:_POOL_SIZE]),
            recent=recent,
            stagnation=self._stagnation.get(island, 0),
            call_log=[],
            guidance=guidance,
            protected_names=self.protected_names,
        )
        job = Job(
            iteration=iteration,
            island=island,
            parent=parent,
            operator=operator,
            context=context,
            meta=meta,
            source=source,
        )
        self._open_jobs[iteration] = job
        return job

    def _choose_parent(self, island: int, rng: np.random.Generator) -> tuple[str, ParentPick]:
        """The parent source (the parent bandit's choice, or ``fixed``) and its pick, at
        the island's current selection temperature."""
        temperature = self.stagnation.temperature(island)
        if self.parent_bandit is None:
            parent = self.archive.sample_parent(island, rng, temperature=temperature)
            return FIXED_SOURCE, ParentPick(parent)
        source = self.parent_bandit.select(rng, self._sources_in_flight)
        pick = pick_parent(
            self.archive,
            source,
            island,
            self._seed,
            rng,
            temperature=temperature,
            inspirations=self.config.archive.inspirations.count,
        )
        return source, pick

    # -- the final simplification -----------------------------------------------------------

    def _final_proposal(self) -> Proposal | None:
        """The simplified version of the best, if it has one never evaluated (cached per
        best: a parse per new best)."""
        best = self._best
        if best is None or not self.config.run.simplify_best:
            return None
        if self._final_pass is None or self._final_pass[0] != best.id:
            self._final_pass = (best.id, simplify_program(best.code, self.protected_names))
        proposal = self._final_pass[1]
        if proposal is not None and self.db.has_hash(code_hash(proposal.code)):
            # evaluated already (a child of the run, or the pass before a resume)
            self._final_pass = (best.id, None)
            return None
        return proposal

    async def simplify_best(self) -> StepReport | None:
        """Offer the best program one simplification pass (before the run ends): the
        simplified child is evaluated and committed like any step (parent source
        ``final``); it replaces the best only if it scores at least as well. None when
        there is nothing to simplify.

        The pass is offered in the last slot of the budget. When it has nothing to offer
        (or its child was seen before), ordinary children fill that slot, and from then on
        :meth:`propose` simplifies each child before its check
        (:attr:`simplify_children`): one that becomes the best in the run's last
        evaluations carries no dead code either."""
        proposal = self._final_proposal()
        best = self._best
        if proposal is None or best is None:
            self.simplify_children = True
            return None
        iteration = self._next_iteration
        self._next_iteration += 1
        context = ProposalContext(
            parent=best,
            rng=self._rng(iteration, _RNG_OPERATOR),
            island=best.island,
            iteration=iteration,
            protected_names=self.protected_names,
        )
        job = Job(
            iteration=iteration,
            island=best.island,
            parent=best,
            operator=SimplifyOperator(),
            context=context,
            source=FINAL_SOURCE,
        )
        if self.check(job, proposal) is not None:
            self._final_pass = (best.id, None)
            self.simplify_children = True
            return None
        self._open_jobs[iteration] = job
        result = await self.evaluate_async(proposal.code, key=f"i{iteration:06d}")
        return self.tell(job, proposal, result)

    async def propose(self, job: Job) -> Proposal | None:
        """The job's child (:meth:`_propose`), simplified before its check once
        :attr:`simplify_children` is set (the note says so; the operator, its params and
        its parents stay)."""
        self._refuse_if_closed()
        proposal = await self._propose(job)
        if not self.simplify_children or proposal is None or proposal.rejection:
            return proposal
        simpler = simplify_program(proposal.code, self.protected_names)
        if simpler is None:
            return proposal
        return replace(
            proposal,
            code=simpler.code,
            note=f"{proposal.note}; simplified before evaluation ({simpler.note})",
            facts=child_facts(job.parent.code, simpler.code, self.facts_settings),
        )

    async def _propose(self, job: Job) -> Proposal | None:
        """Send the job's requests about the run (their answers wait in
        ``job.meta_answers`` for ``tell``), then run the job's operator and attach the
        child's facts (:mod:`evoforge.facts`); an operator that raises, or answers with
        something that is not a proposal, yields a failed one
        (:func:`~evoforge.operators.base.run_operator`).

        Symbolic operators run in the proposal pool (``run.proposal_processes``), off the
        driver; for a language-model operator only the choice of model runs here: its
        prompt is built, its answers applied to the parent
        (:mod:`evoforge.operators.offload`) and the child's facts computed in the pool,
        and the request itself goes out from the model request process
        (:mod:`evoforge.llm.request_process`, ``llm.request_process``). With no pool,
        everything but the request runs here.
        """
        if job.meta and self.llm is not None:
            rng = self._rng(job.iteration, _RNG_META)
            for request in job.meta:
                label = (
                    OPERATOR_INSTRUCTION if request.kind == TASK_INSTRUCTION else OPERATOR_RUN_NOTE
                )
                text = await ask_model(
                    self.llm.router,
                    request.messages,
                    operator=label,
                    rng=rng,
                    call_log=job.context.call_log,
                )
                if text is not None:
                    job.meta_answers[request.kind] = text
        pool = self.proposals
        if pool is not None and pool.runs(job.operator.name):
            return await pool.propose(job.operator.name, job.context)
        if pool is None:
            return await propose_with_facts(job.operator, job.context, self.facts_settings)
        # a language-model operator's prompt and answers are worked on in the pool too
        context = replace(job.context, offload=pool)
        proposal = await run_operator(job.operator, context)
        if proposal is None or proposal.rejection:
            return proposal
        return replace(proposal, facts=await pool.facts(job.parent.code, proposal.code))

    def _facts(self, job: Job, proposal: Proposal) -> ChildFacts:
        """The proposal's facts; computed here for a proposal made without
        :meth:`propose` (by hand)."""
        if proposal.facts is not None:
            return proposal.facts
        return child_facts(job.parent.code, proposal.code, self.facts_settings)

    def check(self, job: Job, proposal: Proposal | None) -> Rejection | None:
        """Why this child must not be evaluated, or None: no child, the operator's own
        refusal, then the engine's checks in order (by default syntax, frozen code, a name
        it uses but never defines where its parent does, duplicate, near duplicate)."""
        if proposal is None:
            return Rejection(RejectionKind.NO_CHANGE, f"{job.operator.name} produced no change")
        if proposal.rejection:
            kind = RejectionKind.OPERATOR_ERROR if proposal.failed else RejectionKind.OPERATOR
            return Rejection(kind, proposal.rejection)
        for check in self.checks:
            rejection = check.check(job.parent, proposal, job.operator.name)
            if rejection is not None:
                return rejection
        return None

    def llm_stop_reason(self) -> tuple[StopReason, str] | None:
        """Why the run must stop for its language models (a token or cost budget reached,
        no usable model left unless the run carries on without them) and the details, or
        None."""
        if self.llm is None or self.models_gone_symbolic():
            return None
        return self.llm.router.stop_reason()

    def models_gone_symbolic(self) -> bool:
        """True when every model is dropped and the run carries on with its symbolic
        operators (``llm.on_no_model: symbolic`` and at least one is enabled); ``ask``
        then picks one of them, uniformly, wherever the bandit picks an llm_* one."""
        return (
            self.llm is not None
            and self.config.llm.on_no_model == "symbolic"
            and self.llm.router.no_model_left()
            and any(not _uses_models(name) for name in self.operators)
        )

    def _symbolic_instead(self) -> bool:
        """Whether ``ask`` replaces an llm_* pick by a symbolic operator: every model is
        dropped, or (with ``llm.on_no_model: symbolic``) every model is resting now, so
        the run keeps working instead of waiting for one to come back."""
        if self.models_gone_symbolic():
            return True
        return (
            self.llm is not None
            and self.config.llm.on_no_model == "symbolic"
            and not self.llm.router.usable_now()
            and any(not _uses_models(name) for name in self.operators)
        )

    def evaluate(self, code: str) -> EvaluationResult:
        """Score code (on the search split when the problem has splits): the backend runs
        it in the sandbox, this process judges what came back. Blocks; from a thread that
        runs an event loop (a notebook), the evaluation runs in a helper thread of its own."""
        return run_to_completion(lambda: self.evaluate_async(code))

    async def evaluate_async(self, code: str, key: str = "") -> EvaluationResult:
        """Score code without blocking the event loop: the backend runs it, the judge (in
        this process, never the backend) validates it, runs ``verify`` and scores it."""
        self._refuse_if_closed()
        split = search_split(self.config.splits)  # the search never sees the other splits
        request = EvaluationRequest(code=code, key=key, split=split)
        raw = await evaluate_on(self.backend, self.config.evaluator.backend, request)
        if self.evaluator.verifies:  # verify is problem code: keep it off the event loop
            return await asyncio.to_thread(self.evaluator.judge, raw, split)
        return self.evaluator.judge(raw, split)

    async def run_job(
        self, job: Job, evaluation_slots: asyncio.Semaphore | None = None
    ) -> StepReport:
        """Propose, check, evaluate (on the backend) and tell: one whole iteration.

        ``evaluation_slots``: held from the check to the end of the evaluation, so that
        a driver may keep more jobs proposing than it has evaluations running (the
        check comes after the wait, so two children in flight are never the same code).
        """
        self._proposing.add(job.iteration)
        try:
            proposal = await self.propose(job)
        finally:
            self._proposing.discard(job.iteration)
        if (
            isinstance(self.novelty, EmbeddingNoveltyIndex)
            and proposal is not None
            and not proposal.rejection
        ):
            # the vector is fetched off the event loop; check and tell find it cached
            await asyncio.to_thread(self.novelty.vector, proposal.code)
        if evaluation_slots is None:
            return await self._check_and_evaluate(job, proposal)
        async with evaluation_slots:
            return await self._check_and_evaluate(job, proposal)

    async def _check_and_evaluate(self, job: Job, proposal: Proposal | None) -> StepReport:
        """Check, evaluate (unless refused) and tell the proposal of ``job``."""
        rejection = self.check(job, proposal)
        if rejection is not None or proposal is None:
            return self.tell(job, proposal, _rejected(rejection))
        for check in self.checks:
            check.evaluation_started(proposal.code)
        try:
            result = await self.evaluate_async(proposal.code, key=f"i{job.iteration:06d}")
        finally:
            for check in self.checks:
                check.evaluation_finished(proposal.code)
        return self.tell(job, proposal, result)

    # -- tell -----------------------------------------------------------------------------

    def tell(self, job: Job, proposal: Proposal | None, result: EvaluationResult) -> StepReport:
        """Insert the result, pay the bandit and commit the step. Returns what happened.

        ``job`` must come from this engine's :meth:`ask` and be told once: a job never
        asked here, or told already, is refused with :class:`EngineError` and nothing is
        committed. Whether the child was evaluated follows from ``result.status``
        (``rejected``: never evaluated); a rejected result without a kind counts as
        :attr:`RejectionKind.OTHER`. Arguments of the wrong kind are refused with
        :class:`EngineError` before the job is used up, so it can still be told.
        """
        self._refuse_if_closed()
        _check_tell_arguments(job, proposal, result)
        self._claim(job)
        evaluated = result.evaluated
        rejection = None
        if not evaluated:
            rejection = result.rejection or RejectionKind.OTHER
        code = proposal.code if proposal is not None else job.parent.code
        parent = job.parent
        facts: ChildFacts | None = None
        if proposal is not None and not proposal.rejection:
            facts = self._facts(job, proposal)
        features: dict[str, float] = {}
        feature_errors: list[str] = []
        scored = result.status is EvalStatus.OK and result.score is not None
        if scored:
            features = self.features.compute(
                code,
                dict(result.metrics),
                float(result.score or 0.0),
                self.archive.features_reference(job.island)
                if self.features.needs_references
                else (),
                known_complexity=None if facts is None else facts.complexity,
                errors=feature_errors,
            )
        inspiration_ids = tuple(p.id for p in job.context.inspirations)
        if proposal is not None and proposal.extra_parent_ids:
            inspiration_ids = tuple(dict.fromkeys(proposal.extra_parent_ids + inspiration_ids))
        reason = result.reason
        if proposal is not None and proposal.note:
            if not reason:
                reason = proposal.note
            elif evaluated and result.status is not EvalStatus.OK:
                # the operator's note first (what was tried), the error last
                reason = f"{proposal.note}\n{reason}"
        program = Program(
            id=f"i{job.iteration:06d}",
            code=code,
            code_hash=facts.code_hash if facts is not None else _hash_of(code, parent),
            seq=self._next_seq,
            iteration=job.iteration,
            parent_id=parent.id,
            inspiration_ids=inspiration_ids,
            operator=job.operator.name,
            island=job.island,
            generation=parent.generation + 1,
            status=result.status,
            reason=reason,
            rejection=rejection,
            params=dict(proposal.params) if proposal is not None else {},
            score=result.score if scored else None,
            metrics=dict(result.metrics),
            features=features,
            artifacts=_with_feature_errors(result.artifacts, feature_errors),
            eval_time_s=result.duration_s,
            created_at=time.time(),
            parent_source=job.source,
        )
        best_before = self._best.score if self._best is not None else None
        previous_best = self._best
        outcome: InsertOutcome | None = None
        if scored:
            child_score = float(program.score or 0.0)
            parent_score = parent.score if parent.score is not None else -math.inf
            if job.operator.keep_only_if_no_worse and child_score < parent_score:
                # e.g. simplify: a shorter program is only worth keeping if no worse
                outcome = InsertOutcome(
                    status=InsertStatus.NOT_ADDED,
                    improvement=child_score - parent_score,
                    island=job.island,
                )
            else:
                outcome = self.archive.insert(program, job.island)
        reward = reward_from_outcome(
            outcome,
            child_score=program.score,
            parent_score=parent.score,
            best_score_before=best_before,
        )
        final = job.source == FINAL_SOURCE
        if not final:
            self.bandit.update(job.operator.name, reward)
        if self.parent_bandit is not None and job.source in self.parent_bandit.arms:
            self.parent_bandit.update(job.source, reward)
        llm_calls = list(job.context.call_log or ())
        operator_calls = [call for call in llm_calls if call.operator == job.operator.name]
        self._reward_model(operator_calls, reward)
        events: list[tuple[str, dict[str, Any]]] = []
        new_best = scored and (best_before is None or float(program.score or 0.0) > best_before)
        skeleton = "" if facts is None else facts.skeleton
        if scored:
            self._remember_scored(program, skeleton)
        elif evaluated:
            self._remember_failed(program, skeleton)
        self._observe_child(program, evaluated=evaluated, facts=facts)
        if self.learning is not None:
            guidance = job.context.guidance
            if guidance is not None and any(c.outcome.value == "ok" for c in operator_calls):
                self.learning.pay(guidance, reward)
            if guidance is not None:
                choice = {"instruction_id": guidance.instruction_id} if guidance.instruction else {}
                if guidance.exemplar_policy is not None:
                    choice["exemplar_policy"] = guidance.exemplar_policy
                if choice:
                    events.append(("prompt_choice", choice))
            for request in job.meta:
                answer = job.meta_answers.get(request.kind)
                applied = (
                    None
                    if answer is None
                    else self.learning.apply(request.kind, answer, job.iteration)
                )
                if applied is not None:
                    events.append(applied)
            self._learn_from(program, parent, reward)
        if new_best:
            events.append(("new_best", {"program_id": program.id, "score": program.score}))
        if proposal is not None and proposal.answer:
            events.append(("llm_answer", {"program_id": program.id, **proposal.answer}))
        events += self._embedding_events(program, evaluated=evaluated)
        if scored and not new_best and previous_best is not None and self._best is program:
            events.append(  # a simplified version of the best, at the same score, replaced it
                (
                    "best_simplified",
                    {"from": previous_best.id, "program_id": program.id, "score": program.score},
                )
            )
        if not final:
            action = self.stagnation.observe(
                job.island,
                outcome.cell if outcome is not None else None,
                program.score if scored else None,
                self._leads,
            )
            if action is not None:
                events.append(self._respond(action))
        self.counters.iterations += 1
        if evaluated:
            self.counters.evaluations += 1
        if result.status is not EvalStatus.OK:
            key = result.status.value
            self.counters.failures[key] = self.counters.failures.get(key, 0) + 1
        migration_every = self.config.archive.migration_interval * self.config.archive.num_islands
        if self.config.archive.num_islands > 1 and self.counters.iterations % migration_every == 0:
            moved = self.archive.migrate(self._rng(job.iteration, _RNG_MIGRATE))
            if moved:
                events.append(
                    (
                        "migration",
                        {
                            "moves": [
                                {"program_id": p.id, "from": source, "to": target}
                                for p, source, target in moved
                            ]
                        },
                    )
                )
        state: dict[str, Any] = {
            "bandit": EncodedJSON(self.bandit.state_json()),
            "stagnation": EncodedJSON(self.stagnation.state_json()),
        }
        if self.parent_bandit is not None:
            state["parent_bandit"] = EncodedJSON(self.parent_bandit.state_json())
        if self.llm is not None:
            state["llm_router"] = self.llm.router.state()
        if self.learning is not None:
            state["prompt_learning"] = self.learning.state()
        self.db.commit_step(
            program,
            evaluated=evaluated,
            outcome=outcome,
            reward=reward,
            events=events,
            state=state,
            llm_calls=llm_calls,
        )
        self._next_seq += 1
        return StepReport(
            program=program,
            outcome=outcome,
            reward=reward,
            new_best=new_best,
            evaluated=evaluated,
            events=tuple(events),
        )

    def _leads(self, island: int) -> bool:
        """Whether ``island``'s grid holds a program as good as the global best."""
        best = self.archive.best()
        if best is None or best.score is None:
            return True
        return self.archive.reaches(island, best.score)

    def _respond(self, action: StagnationAction) -> tuple[str, dict[str, Any]]:
        """Carry out a stagnation action; the event that records it (a restart names the
        programs the island starts again from, so replay rebuilds it)."""
        payload = action.payload()
        if action.kind == "island_restart":
            elites = self.archive.global_elites()[: self.config.archive.stagnation.restart_elites]
            self.archive.restart_island(action.island, elites)
            self.stagnation.restarted(action.island, elites[0].score if elites else None)
            payload["program_ids"] = [program.id for program in elites]
        return action.kind, payload

    def still_proposing(self, job: Job) -> bool:
        """Whether ``job`` (in :meth:`run_job`) is still making its child (a language
        model's request, an operator of a plugin that takes its time): nothing of it is
        evaluated yet, so a stopping run may cancel it."""
        return job.iteration in self._proposing

    def withdraw(self, job: Job) -> None:
        """Forget an asked job that will never be told (its :meth:`run_job` was cancelled
        while it was still proposing): nothing is recorded, and the next :meth:`ask` (or a
        later run's) asks its iteration again, so a run's iterations have no gaps. A no-op
        for a job told or withdrawn already."""
        if self._open_jobs.get(job.iteration) is job:
            self._claim(job)
            if job.iteration == self._next_iteration - 1:
                self._next_iteration = job.iteration
            else:
                heapq.heappush(self._iterations_to_ask_again, job.iteration)

    # -- internals ------------------------------------------------------------------------

    def _claim(self, job: Job) -> None:
        """Close ``job`` for telling, or refuse it: never asked here, or told already."""
        if self._open_jobs.get(job.iteration) is not job:
            if job.iteration >= self._next_iteration or job.iteration in self._open_jobs:
                raise EngineError(
                    f"tell for iteration {job.iteration}, which this engine never asked; "
                    "tell only jobs from this engine's ask()"
                )
            raise EngineError(
                f"iteration {job.iteration} was told already (or asked by another engine); "
                "each job from ask() is told exactly once"
            )
        del self._open_jobs[job.iteration]
        if job.source != FINAL_SOURCE:
            for in_flight, arm in (
                (self._operators_in_flight, job.operator.name),
                (self._sources_in_flight, job.source),
            ):
                in_flight[arm] -= 1
                if not in_flight[arm]:
                    del in_flight[arm]

    def _embedding_events(
        self, program: Program, *, evaluated: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        """The ``embedding`` event that stores an evaluated program's vector with its step
        (a resumed run reads it back), and a ``novelty_fallback`` event on the step where
        the index gave up on its endpoint."""
        if not isinstance(self.novelty, EmbeddingNoveltyIndex):
            return []
        events: list[tuple[str, dict[str, Any]]] = []
        vector = self.novelty.cached(program.code) if evaluated else None
        if vector is not None:
            events.append(
                (
                    "embedding",
                    {
                        "program_id": program.id,
                        "model": self.config.novelty.embedding_model,
                        "vector": encode_vector(vector),
                    },
                )
            )
        if self.novelty.gave_up is not None and not self._novelty_gave_up_recorded:
            self._novelty_gave_up_recorded = True
            events.append(
                (
                    "novelty_fallback",
                    {"reason": self.novelty.gave_up, "program_id": program.id},
                )
            )
        return events

    def _reward_model(self, calls: list[LLMCallRecord], reward: float) -> None:
        """Pay the model that answered this job: reward per unit cost (money when the
        models have prices, tokens otherwise)."""
        if self.llm is None or not calls:
            return
        answered = [call for call in calls if call.outcome.value == "ok"]
        if not answered:
            return
        priced = any(
            m.price_input_per_mtok > 0 or m.price_output_per_mtok > 0
            for m in self.config.llm.models
        )
        cost = sum(call.cost if priced else float(call.tokens) for call in calls)
        self.llm.router.reward_model(answered[-1].model, reward, cost)

    def _observe_child(
        self,
        program: Program,
        *,
        evaluated: bool,
        facts: ChildFacts | None = None,
        index_novelty: bool = True,
    ) -> None:
        """Island feedback for prompts (recent children, stagnation) and the novelty index."""
        recent = self._recent.setdefault(program.island, deque(maxlen=_RECENT_PER_ISLAND))
        recent.append(program)
        best = self._island_best.get(program.island)
        if program.is_scored and (best is None or float(program.score or 0.0) > best):
            self._island_best[program.island] = float(program.score or 0.0)
            self._stagnation[program.island] = 0
        else:
            self._stagnation[program.island] = self._stagnation.get(program.island, 0) + 1
        if evaluated and index_novelty and self.novelty is not None:
            self._index_novelty(program, None if facts is None else facts.signature)
        for check in self.checks:
            check.observe(program)

    def _learn_from(self, program: Program, parent: Program | None, reward: float | None) -> None:
        """Add a committed child to the prompt learner's window of recent results."""
        if self.learning is None:
            return
        entry = ResultEntry.from_program(program, parent, reward)
        seed = self._seed.score if self._seed is not None else None
        self.learning.observe(entry, self._best.score if self._best else None, seed)

    def _rng(self, iteration: int, purpose: int) -> np.random.Generator:
        """A new generator in the state of ``default_rng([seed, iteration, purpose])``."""
        entropy = (self.config.seed, iteration, purpose)
        return seeded_generator(entropy, self._seeds.words(iteration, purpose))

    def _commit_seed(self, result: EvaluationResult) -> None:
        """Commit the scored seed. Refuses (:class:`EngineError`) a feature that is
        neither registered nor among the seed's metrics, before anything is written."""
        code = self.problem.initial_code
        unknown = self.features.unknown(result.metrics)
        if unknown:
            raise EngineError(
                f"archive.features: {', '.join(map(repr, unknown))} is neither a registered "
                f"feature ({', '.join(FEATURES.names())}) nor a metric the evaluator "
                f"reported for the seed ({', '.join(sorted(result.metrics)) or 'none'})"
            )
        feature_errors: list[str] = []
        features = self.features.compute(
            code, dict(result.metrics), float(result.score or 0.0), [], errors=feature_errors
        )
        seed = Program(
            id="seed",
            code=code,
            code_hash=code_hash(code),
            seq=0,
            iteration=0,
            operator="seed",
            status=EvalStatus.OK,
            score=result.score,
            metrics=dict(result.metrics),
            features=features,
            artifacts=_with_feature_errors(result.artifacts, feature_errors),
            eval_time_s=result.duration_s,
            created_at=time.time(),
        )
        outcome = self._insert_everywhere(seed)
        if isinstance(self.novelty, EmbeddingNoveltyIndex):
            self.novelty.vector(seed.code)
        self._observe_seed(seed)
        state: dict[str, Any] = {
            "bandit": self.bandit.state(),
            "stagnation": self.stagnation.state(),
        }
        if self.parent_bandit is not None:
            state["parent_bandit"] = self.parent_bandit.state()
        self.db.commit_step(
            seed,
            evaluated=True,
            outcome=outcome,
            reward=None,
            events=[
                ("new_best", {"program_id": seed.id, "score": seed.score}),
                *self._embedding_events(seed, evaluated=True),
            ],
            state=state,
        )
        self._remember_scored(seed)
        self._seed = seed
        self.counters.evaluations = 1
        self._next_seq = 1

    def _observe_seed(self, seed: Program) -> None:
        self.stagnation.start(float(seed.score or 0.0))
        for island in range(self.config.archive.num_islands):
            self._island_best[island] = float(seed.score or 0.0)
        if self.novelty is not None:
            self._index_novelty(seed)
        for check in self.checks:
            check.observe(seed)

    def _index_novelty(self, program: Program, signature: np.ndarray | None = None) -> None:
        """Add an evaluated program to the near-duplicate index (with its stored vector
        when the run is being replayed; with its MinHash ``signature`` when known)."""
        if isinstance(self.novelty, EmbeddingNoveltyIndex):
            self.novelty.add(program.id, program.code, self._stored_vectors.pop(program.id, None))
        elif self.novelty is not None:
            self.novelty.add(program.id, program.code, signature)

    def _insert_everywhere(self, program: Program) -> InsertOutcome:
        outcome = self.archive.insert(program, 0)
        for island in range(1, self.config.archive.num_islands):
            self.archive.insert(program, island)
        return outcome

    def _remember_scored(self, program: Program, skeleton: str = "") -> None:
        self._latest_scored_seq = program.seq
        if self._best is None or _better_best(program, self._best):
            self._best = program
        self._queue_for_relatives(program, skeleton)

    def _remember_failed(self, program: Program, skeleton: str = "") -> None:
        """Index an evaluated child that did not score (failed, invalid, timed out), so
        that ``tune`` learns where its literals must not go."""
        self._queue_for_relatives(program, skeleton)

    def _queue_for_relatives(self, program: Program, skeleton: str) -> None:
        """Queue an evaluated program for :meth:`_relatives_of`'s lazy index, with its
        literal skeleton when known ("": parsed when needed)."""
        if any(operator.uses_relatives for operator in self.operators.values()):
            self._unindexed.append((program, skeleton))
            oldest = self._latest_scored_seq - _RELATIVES_WINDOW
            while self._unindexed[0][0].seq <= oldest:  # never the program just queued
                self._unindexed.popleft()

    def _skeleton_of(self, program: Program) -> str:
        """The literal skeleton of a possible parent: known for every program indexed in
        this process, parsed (once) otherwise."""
        known = self._skeletons.get(program.id)
        if known is not None:
            return known[1]
        skeleton = literal_skeleton(program.code)
        self._skeletons[program.id] = (program.seq, skeleton)
        return skeleton

    def _relatives_of(self, parent: Program) -> list[Program]:
        """Evaluated programs sharing the parent's literal skeleton: the scored ones best
        first, then the ones that failed in evaluation (score None), oldest first.

        They are the last ``_MAX_RELATIVES`` scored and ``_MAX_FAILED_RELATIVES`` failed
        such programs among those committed in the last ``_RELATIVES_WINDOW`` steps: a
        pure function of the history, so a resumed run sees the same relatives. A child's
        skeleton comes with its facts; programs without one (replayed on resume) are
        parsed lazily, when an operator needs relatives, and only inside the window.

        Memory stays flat on long runs: a program leaves the index as soon as it falls out
        of the window (not in bulk later), so the index never holds much more than the
        window's programs, and the Python heap has no peaks to grow to.
        """
        oldest = self._latest_scored_seq - _RELATIVES_WINDOW
        for program, known in self._unindexed:
            if program.seq <= oldest:
                continue
            skeleton = known or literal_skeleton(program.code)
            self._skeletons[program.id] = (program.seq, skeleton)
            if program.is_scored:
                index, size = self._relatives, _MAX_RELATIVES
            else:
                index, size = self._failed_relatives, _MAX_FAILED_RELATIVES
            items = index.get(skeleton)
            if items is None:
                items = index[skeleton] = deque(maxlen=size)
            else:
                index.move_to_end(skeleton)
                _drop_before(items, oldest)
            items.append(program)
        self._unindexed.clear()
        for index in (self._relatives, self._failed_relatives):
            _drop_stale_skeletons(index, oldest)
        if len(self._skeletons) > _RELATIVES_WINDOW + len(self.archive) + _SKELETON_SLACK:
            self._forget_skeletons(oldest)
        skeleton = self._skeleton_of(parent)
        scored = [p for p in self._relatives.get(skeleton, ()) if p.seq > oldest]
        failed = [p for p in self._failed_relatives.get(skeleton, ()) if p.seq > oldest]
        scored.sort(key=lambda p: (-(p.score or 0.0), p.seq))
        return scored + failed

    def _forget_skeletons(self, oldest: int) -> None:
        """Keep only the skeletons of programs a parent can be (in the archive, the seed)
        and of those inside the relatives window: the map stays bounded on long runs."""
        held = self.archive.programs_by_id
        seed_id = None if self._seed is None else self._seed.id
        self._skeletons = {
            program_id: entry
            for program_id, entry in self._skeletons.items()
            if entry[0] > oldest or program_id in held or program_id == seed_id
        }

    def _kept_out_by_rule(self, program: Program, scores: dict[str, float]) -> bool:
        """True when the engine (not the archive) refused this child: a keep-only-if-no-worse
        operator whose child scored below its parent (``scores``: by program id)."""
        operator = self.operators.get(program.operator)
        parent_score = scores.get(program.parent_id or "")
        only_if_no_worse = program.parent_source == FINAL_SOURCE or (
            operator is not None and operator.keep_only_if_no_worse
        )
        if not only_if_no_worse or parent_score is None:
            return False
        return (program.score or 0.0) < parent_score

    def _replay(self) -> None:
        migrations: dict[int, list[dict[str, Any]]] = {}
        for event in self.db.events("migration"):
            migrations.setdefault(event.seq, []).extend(event.payload.get("moves", []))
        learn_from_seq = self.db.max_seq() - (
            self.learning.window_size if self.learning is not None else 0
        )
        if isinstance(self.novelty, EmbeddingNoveltyIndex):
            model = self.config.novelty.embedding_model
            for event in self.db.events("embedding"):
                if event.payload.get("model") == model:
                    vector = decode_vector(str(event.payload.get("vector", "")))
                    self._stored_vectors[str(event.payload.get("program_id"))] = vector
        restarts: dict[int, list[dict[str, Any]]] = {}
        for event in self.db.events("island_restart"):
            restarts.setdefault(event.seq, []).append(event.payload)
        scores: dict[str, float] = {}  # replay only: parents' scores for the rule above
        # the novelty index keeps the latest programs only: older ones need no signature
        unindexed = 0
        if isinstance(self.novelty, NoveltyIndex):
            unindexed = self.db.count_evaluated() - self.novelty.window
        told: set[int] = set()
        for step in self.db.steps():
            program = step.program
            told.add(program.iteration)
            if program.seq == 0:
                self._insert_everywhere(program)
                self._observe_seed(program)
                self._seed = program
            elif step.outcome is not None and not self._kept_out_by_rule(program, scores):
                self.archive.insert(program, program.island)
            if program.is_scored:
                scores[program.id] = float(program.score or 0.0)
                self._remember_scored(program)
            elif step.evaluated:
                self._remember_failed(program)
            if program.seq > 0:
                indexed = step.evaluated and unindexed <= 0
                self._observe_child(program, evaluated=step.evaluated, index_novelty=indexed)
                if self.learning is not None and program.seq > learn_from_seq:
                    parent_id = program.parent_id or ""
                    parent = self.archive.programs_by_id.get(parent_id) or self.db.program(
                        parent_id
                    )
                    self._learn_from(program, parent, step.reward)
                self.counters.iterations += 1
                if program.status is not EvalStatus.OK:
                    key = program.status.value
                    self.counters.failures[key] = self.counters.failures.get(key, 0) + 1
            if step.evaluated:
                self.counters.evaluations += 1
                unindexed -= 1
            for restart in restarts.get(program.seq, []):
                by_id = self.archive.programs_by_id
                elites = [by_id[i] for i in restart.get("program_ids", []) if i in by_id]
                self.archive.restart_island(int(restart["island"]), elites)
            for move in migrations.get(program.seq, []):
                moved = self.archive.programs_by_id.get(move["program_id"])
                if moved is not None:
                    self.archive.insert(moved, int(move["to"]))
            self._next_iteration = max(self._next_iteration, program.iteration + 1)
            self._next_seq = program.seq + 1
        # jobs of an earlier invocation never told (cancelled, abandoned, or in flight at
        # a kill) left these numbers unused: they are asked first (a sorted list is a heap)
        self._iterations_to_ask_again = sorted(set(range(1, self._next_iteration)) - told)
        bandit_state = self.db.get_state("bandit")
        if bandit_state is not None:
            self.bandit.load_state(bandit_state)
        parent_state = self.db.get_state("parent_bandit")
        if self.parent_bandit is not None and parent_state is not None:
            self.parent_bandit.load_state(parent_state)
        self.stagnation.load_state(self.db.get_state("stagnation"))
        if self.llm is not None:
            self.llm.router.account([record for _, record in self.db.llm_calls()])
            self.llm.router.load_state(self.db.get_state("llm_router"))
        if self.learning is not None:
            self.learning.load_state(self.db.get_state("prompt_learning"))


def build_llm(problem: Problem, config: Config) -> LLMServices | None:
    """The model router and prompt builder, when an operator that uses models is enabled."""
    if not any(_uses_models(name) for name in config.operators.enabled):
        return None
    llm_config = config.llm
    if not llm_config.models:
        raise EngineError(
            "llm_* operators are enabled but no model is configured "
            "(give --llm-base-url and --model, or llm.models in a config file)"
        )
    for model in llm_config.models:
        passed = sanitized_environment({model.api_key_env: "x"}, allow=config.evaluator.pass_env)
        if model.api_key_env in passed:
            raise EngineError(
                f"llm model {model.label}: api_key_env {model.api_key_env!r} would reach "
                "candidate programs (the sandbox passes it on, by default or through "
                "evaluator.pass_env); keep the key in another variable"
            )
    from evoforge.llm.client import ChatClient, LLMSetupError, OpenAIChatClient, RetryPolicy
    from evoforge.llm.request_process import RequestProcess, requests_apart
    from evoforge.llm.router import ModelRouter
    from evoforge.operators.prompts import PromptBuilder

    retry = RetryPolicy.from_config(llm_config)
    seeds = [config.seed + index for index in range(len(llm_config.models))]
    try:
        # the driver's own clients, also when requests go through the process: they
        # raise LLMSetupError here when the openai package is missing
        clients: dict[str, ChatClient] = {
            model.label: OpenAIChatClient(model, retry, jitter_seed=seed)
            for model, seed in zip(llm_config.models, seeds, strict=True)
        }
    except LLMSetupError as exc:
        raise EngineError(str(exc)) from None
    if requests_apart(llm_config.request_process):
        clients = dict(RequestProcess(llm_config.models, retry, seeds).clients())
    description = problem.description or problem.files.get("README.md", b"").decode(
        "utf-8", "replace"
    )
    return LLMServices(
        router=ModelRouter(llm_config, clients),
        prompts=PromptBuilder(config.prompt, description, problem.initial_code),
        completions_per_request=llm_config.completions_per_request,
        leniency=MatchKind(llm_config.match_leniency),
        fuzzy_threshold=llm_config.fuzzy_threshold,
        correction=llm_config.correction_prompt,
    )


def build_prompt_learner(config: Config, llm: LLMServices | None) -> PromptLearner | None:
    """The prompt learner, when the run uses models and a prompt-learning option is on."""
    if llm is None or not PromptLearner.wanted(config.prompt):
        return None
    return PromptLearner(
        config.prompt,
        config.bandit,
        llm.prompts.system,
        config.archive.num_islands,
        llm.prompts.task,
    )


def build_novelty(config: Config) -> NoveltyIndex | EmbeddingNoveltyIndex | None:
    """The near-duplicate index ``novelty.method`` asks for (None when turned off)."""
    novelty = config.novelty
    if not novelty.near_duplicates or not _novelty_queried(config):
        return None
    if novelty.method == "minhash":
        return NoveltyIndex(novelty)
    passed = sanitized_environment(
        {novelty.embedding_api_key_env: "x"}, allow=config.evaluator.pass_env
    )
    if novelty.embedding_api_key_env in passed:
        raise EngineError(
            f"novelty.embedding_api_key_env {novelty.embedding_api_key_env!r} would reach "
            "candidate programs (the sandbox passes it on, by default or through "
            "evaluator.pass_env); keep the key in another variable"
        )
    from evoforge.llm.client import EmbeddingClient, LLMSetupError

    try:
        client = EmbeddingClient(novelty)
    except LLMSetupError as exc:
        raise EngineError(str(exc)) from None
    return EmbeddingNoveltyIndex(novelty, client.embed)


def _uses_models(operator: str) -> bool:
    """Whether the operator registered under this name calls language models."""
    return OPERATORS.has(operator, "llm")


def _with_feature_errors(artifacts: Mapping[str, str], errors: list[str]) -> dict[str, str]:
    """``artifacts`` with the features that failed on this program, under
    ``feature_errors``, one per line."""
    if not errors:
        return dict(artifacts)
    return {**artifacts, "feature_errors": "\n".join(errors)}


def _rejected(rejection: Rejection | None) -> EvaluationResult:
    if rejection is None:
        return EvaluationResult(EvalStatus.REJECTED, rejection=RejectionKind.OTHER)
    return rejection.result()


def _check_tell_arguments(job: object, proposal: object, result: object) -> None:
    """EngineError unless ``tell``'s arguments are a job, a proposal or None, and a result."""
    for name, value, expected in (
        ("job", job, Job),
        ("result", result, EvaluationResult),
    ):
        if not isinstance(value, expected):
            raise EngineError(
                f"tell: {name} must be {expected.__name__}, got {type(value).__name__} "
                "(pass the job from ask(), the proposal or None, and the result of "
                "evaluate() or of a check's rejection)"
            )
    if proposal is not None and not isinstance(proposal, Proposal):
        raise EngineError(
            f"tell: proposal must be a Proposal or None, got {type(proposal).__name__}"
        )


def _built(
    parts: PartsFactory, problem: Problem, config: Config, run_dir: Path, store: RunDatabase
) -> Engine:
    """``parts(problem, config, run_dir, store)``, refused (:class:`EngineError`, after
    closing what it built) unless it is an engine over that store, run directory and
    config: the run's lock, files and stored config are those, and nothing else would keep
    them in step."""
    engine = parts(problem, config, run_dir, store)
    if not isinstance(engine, Engine):
        raise EngineError(f"parts built {type(engine).__name__}, not an Engine")
    if engine.db is not store or engine.run_dir != run_dir or engine.config != config:
        what = (
            "store"
            if engine.db is not store
            else "run directory"
            if engine.run_dir != run_dir
            else "config"
        )
        engine.close()
        raise EngineError(
            f"parts built an engine with another {what}; it must use the problem, config, "
            "run directory and store it is given"
        )
    return engine


def _holding_lock(run_dir: Path, locked: bool, make: Callable[[], Engine]) -> Engine:
    """``make()``'s engine holding the run's lock until its close (taken here unless the
    caller holds it, ``locked``; released again if ``make`` raises)."""
    lock = None if locked else _lock_run(run_dir)
    try:
        engine = make()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    engine._run_lock = lock
    return engine


def _lock_run(run_dir: Path) -> RunLock:
    """The run's lock, taken (``RunLockedError`` when another process holds it)."""
    from evoforge.runs import RunLock  # runs builds on this module

    lock = RunLock(run_dir)
    lock.acquire()
    return lock


def _refuse_directories_in_sight(problem_dir: Path, run_dir: Path) -> None:
    """EngineError when a jail would show the problem or the run to candidates: each jail
    binds the system's ``/usr`` (and ``/bin``, ``/lib`` ...) whole, for the programs and
    libraries there, so a directory inside them is no secret (a container's
    ``WORKDIR /usr/src/app``, say)."""
    if filesystem_isolation() != "mountns":
        return  # without a jail a candidate is told it can read everything anyway
    for name, directory in (("problem", problem_dir), ("run", run_dir)):
        top = shown_by_system_binds(directory)
        if top is not None:
            raise EngineError(
                f"the {name} directory {directory} lies inside {top}, which every jail "
                "shows to candidates (they could read the evaluator, its data and the run); "
                "move it elsewhere"
            )


def _refuse_limits_out_of_reach(config: Config) -> None:
    """EngineError when the local sandbox would set a limit above this process's own hard
    limit (a shell's ``ulimit -v`` below ``evaluator.memory_mb``), which it cannot raise:
    every evaluation's setup would fail, the seed's first. Ray workers check their own."""
    if config.evaluator.backend != "local":
        return
    lines = limits_out_of_reach(SandboxLimits.from_config(config.evaluator).rlimits())
    if lines:
        raise EngineError("; ".join(lines))


def _holds_started_run(db_path: Path) -> bool | Literal["unreadable"]:
    """Whether the database at ``db_path`` holds a run that got as far as its seed's
    commit. Called under the run's lock. A file SQLite cannot read is ``"unreadable"``
    (it counts as a run: it is never removed unasked); a database without the programs
    table (its schema never finished) or without a program in it does not."""
    try:
        connection = sqlite3.connect(str(db_path), timeout=30.0)
        try:
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "programs" not in tables:
                return False
            return bool(connection.execute("SELECT EXISTS (SELECT 1 FROM programs)").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return "unreadable"


def _remove_database(db_path: Path) -> None:
    """Remove a run database that never held a run (and its WAL files)."""
    db_path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)


def _proposal_pool(config: Config, settings: FactsSettings) -> ProposalPool | None:
    """The pool the symbolic operators run in: ``run.proposal_processes`` processes (as
    many as the run's workers, at most one per CPU this process may use, when unset);
    None for 0."""
    processes = proposal_processes(config)
    if processes == 0:
        return None
    return ProposalPool(config.operators, settings, processes)


def proposal_processes(config: Config) -> int:
    """How many proposal processes a run gets: ``run.proposal_processes``, or when unset as
    many as its workers, at most one per CPU this process may use (a process pinned to
    fewer CPUs than the machine has gets fewer)."""
    if config.run.proposal_processes is not None:
        return config.run.proposal_processes
    return min(config.run.workers, usable_cpus())


def _hash_of(code: str, parent: Program) -> str:
    """The code hash of a child without facts: its parent's when it is the parent's code."""
    return parent.code_hash if code == parent.code else code_hash(code)


def _novelty_queried(config: Config) -> bool:
    """Whether near copies are ever looked up (every child is checked, or an operator
    that uses models is enabled): the index is kept only then."""
    return config.novelty.operators == "all" or any(
        _uses_models(name) for name in config.operators.enabled
    )
