"""Starting and resuming runs: run directories, the run lock, budgets and the loop.

A run directory holds ``run.sqlite`` (everything that counts), ``problem/`` (the problem
files as given, so the run is self-contained) and ``run.lock``. Only one process may
drive a run at a time: the lock is an exclusive ``flock`` that the kernel releases when
the holder dies, so a ``kill -9`` never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, ParamSpec, TypeVar

from evoforge.config import Config, resolve_config
from evoforge.engine import Engine, EngineError
from evoforge.kinds import StopReason
from evoforge.loop import Budget, RunResult, drive, stop_at_start
from evoforge.operators.ast_tools import uneditable_blocks
from evoforge.problem import Problem, load_problem
from evoforge.registry import OPERATORS
from evoforge.report.progress import Reporter, make_reporter
from evoforge.report.reader import REPORT_FILENAME
from evoforge.requirements_check import check_requirements
from evoforge.splits import choose_final
from evoforge.stop_signals import stop_signals, stopping_as_ctrl_c, when_received
from evoforge.storage.db import RunDatabase
from evoforge.unread_settings import unread_settings

LOCK_FILENAME = "run.lock"


class RunLockedError(EngineError):
    """Another process is driving this run."""


class EndpointError(EngineError):
    """A language model failed the start-up check (unreachable, unauthorised, broken)."""


class RunLock:
    """Exclusive, non-blocking lock on a run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILENAME
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming its holder."""
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise EngineError(f"{self.path.parent} is a file, not a run directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            raise EngineError(
                f"{self.path.parent} cannot be written ({exc.strerror}): a run's directory "
                "must be writable (status, best, show, report and export still read a run "
                "there; copy it somewhere writable to resume it)"
            ) from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            if holder == f"pid {os.getpid()}":
                raise RunLockedError(
                    f"{self.path.parent} is in use by this process: an Engine of that run "
                    "is still open (close() it first)"
                ) from exc
            raise RunLockedError(
                f"{self.path.parent} is in use by {holder}; wait for it or stop it first"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let the lock go (a no-op when not held)."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def lock_holder(run_dir: Path) -> str | None:
    """Who holds ``run_dir``'s :class:`RunLock` now (``pid N``), or None when nobody does:
    a run whose loop has no stop recorded is either running (held) or was killed or
    crashed (not held). Reads only; the lock is tested for a moment and let go."""
    try:
        handle = open(run_dir / LOCK_FILENAME, encoding="utf-8")  # noqa: SIM115
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "another process"
        except OSError:
            return None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None


def default_run_dir(problem: Problem) -> Path:
    """A new, empty directory ``runs/NAME-YYYYmmdd-HHMMSS``, created here (``-2``,
    ``-3``, ... appended while that name is taken), so that runs started in the same
    second never share one."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise EngineError(
            "the current directory no longer exists, so runs/ cannot be made in it: "
            "pass --out or start from an existing directory"
        ) from None
    base = Path("runs") / f"{problem.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, number = base, 1
    while True:
        try:
            candidate.mkdir()
        except FileExistsError:
            number += 1
            candidate = base.with_name(f"{base.name}-{number}")
            continue
        return candidate


_RUN_FILES = frozenset(
    {
        RunDatabase.FILENAME,
        f"{RunDatabase.FILENAME}-wal",
        f"{RunDatabase.FILENAME}-shm",
        LOCK_FILENAME,
        "problem",
        REPORT_FILENAME,
    }
)


def _refuse_foreign_files(run_dir: Path) -> None:
    """Raise :class:`EngineError` if ``run_dir`` holds anything but a run's files (and
    the report ``evoforge report`` writes there by default): ``--fresh`` clears none."""
    if not run_dir.is_dir():
        return
    unknown = [entry.name for entry in run_dir.iterdir() if entry.name not in _RUN_FILES]
    if unknown:
        raise EngineError(
            f"--fresh refuses to clear {run_dir}: it holds files that are not a run's "
            f"({', '.join(sorted(unknown)[:3])})"
        )


def _clear_run_dir(run_dir: Path) -> None:
    """Remove a previous run from ``run_dir`` (with the report ``evoforge report`` writes
    there by default); refuse if it holds anything else."""
    if not run_dir.exists():
        return
    _refuse_foreign_files(run_dir)
    for entry in run_dir.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        elif entry.name != LOCK_FILENAME:
            entry.unlink()


class _InterruptAfterSeed:
    """While the seed is scored, a first Ctrl-C (SIGINT, or SIGTERM, or SIGHUP:
    :mod:`evoforge.stop_signals`) lets its evaluation finish and then stops the run
    (:class:`KeyboardInterrupt` from :meth:`check`); a second one abandons it at once.
    The run is resumable either way. Acts only in the main thread (where Python delivers
    signals)."""

    def __init__(self, note: Callable[[str], None], run_dir: Path) -> None:
        self.pressed = False
        self._note = note
        self._run_dir = run_dir
        self._previous: Any = None
        self._signals = stop_signals()
        self._active = threading.current_thread() is threading.main_thread()

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        when_received(signum, self._interrupt)()

    def _interrupt(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        self._note(
            "interrupted: stopping once the run's start (its backend, the seed's "
            "evaluation) is done (interrupt again to abandon); "
            f"'evoforge resume {self._run_dir}' continues the run"
        )

    def __enter__(self) -> _InterruptAfterSeed:
        if self._active:
            self._previous = [signal.signal(sig, self._on_interrupt) for sig in self._signals]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._active:
            for sig, previous in zip(self._signals, self._previous, strict=True):
                if previous is not None:  # None: not set from Python, nothing to restore
                    signal.signal(sig, previous)

    def check(self, engine: Engine) -> None:
        """Close ``engine`` and raise :class:`KeyboardInterrupt` if interrupted."""
        if self.pressed:
            engine.close()
            raise KeyboardInterrupt


SHARED_SPLITS_WARNING = (
    "warning: with instance splits, the shared-process form lets a candidate read the "
    "holdout and test instances too; define evaluate_candidate(candidate, split=...) in "
    "evaluator.py to keep them out of its reach"
)

SPLITS_CASCADE_NOTE = (
    "note: with instance splits the evaluator's cascade (evaluate_stage1, ...) is not used: "
    "every evaluation calls evaluate(program_path, split=...)"
)


def _with_final_choice(engine: Engine, result: RunResult, reporter: Reporter) -> RunResult:
    """Choose the final program on the holdout and score it on test (problems with splits;
    not after an interrupt, so that a stopped run can be resumed first)."""
    splits = engine.config.splits
    if not splits.enabled or result.stop_reason is StopReason.INTERRUPTED:
        return result
    try:
        final = choose_final(
            engine.db, engine.evaluator.evaluate, splits, engine.config.seed, reporter.note
        )
    except KeyboardInterrupt:
        reporter.note(
            f"interrupted during the final choice; 'evoforge resume {engine.run_dir}' makes it"
        )
        raise
    return replace(result, final=final)


_P = ParamSpec("_P")
_Result = TypeVar("_Result")


def _stopped_by_signals(function: Callable[_P, _Result]) -> Callable[_P, _Result]:
    """SIGTERM (a service manager's stop, ``kill``) and SIGHUP (the terminal closed) stop
    the run as Ctrl-C does in every phase of ``function``: the run loop takes them over
    while it runs, and elsewhere they raise :class:`KeyboardInterrupt`
    (:func:`~evoforge.stop_signals.stopping_as_ctrl_c`; by default they ended the process
    at once, leaving its children and temporary files, and the stop unrecorded)."""

    @functools.wraps(function)
    def stopped_by_signals(*args: _P.args, **kwargs: _P.kwargs) -> _Result:
        with stopping_as_ctrl_c():
            return function(*args, **kwargs)

    return stopped_by_signals


def _refuse_a_resume_that_cannot_step(engine: Engine, budget: Budget) -> None:
    """Raise :class:`EngineError` when ``budget``, which adds iterations or evaluations,
    would still stop the run before its first step: which stop holds and what goes on."""
    stop = stop_at_start(engine, budget)
    if stop is None:
        return
    run = engine.run_dir
    counters = engine.counters
    if stop is StopReason.EVALUATIONS:
        why = (
            f"{stop.value} ({counters.evaluations} of {budget.max_evaluations}): "
            f"'evoforge resume {run} --evaluations N' allows N more"
        )
    elif stop is StopReason.ITERATIONS:
        why = (
            f"{stop.value} ({counters.iterations} of {budget.iterations}): "
            f"'evoforge resume {run} --iterations N' runs N more"
        )
    elif stop is StopReason.TARGET:
        best = engine.best
        score = "-" if best is None or best.score is None else f"{best.score:.6g}"
        why = (
            f"{stop.value} ({budget.target_score:g}; its best is {score}): going on past "
            "it is a new run with a higher run.target_score"
        )
    else:
        why = f"{stop.value}, a budget of the run's config that resume cannot change"
    raise EngineError(f"{run} would stop again before its first step: {why}")


def _budget(config: Config) -> Budget:
    return Budget(
        iterations=config.run.iterations,
        max_evaluations=config.run.max_evaluations,
        max_wall_time_s=config.run.max_wall_time_s,
        target_score=config.run.target_score,
    )


def _check_models(config: Config, reporter: Reporter, allow_unreachable: bool) -> None:
    """Raise :class:`EndpointError` when a model fails the start-up check, or note the
    problems when the run may start anyway."""
    from evoforge.llm.preflight import check_models, problems_line

    check = check_models(config)
    if check.problems and not allow_unreachable:
        raise EndpointError(problems_line(check.problems))
    for problem in check.problems:
        reporter.note(f"warning: {problem}; starting anyway (--allow-unreachable)")
    for warning in check.warnings:
        reporter.note(f"warning: {warning}")


@_stopped_by_signals
def start_run(
    problem_dir: Path | str,
    *,
    config_file_layer: Mapping[str, Any] | None = None,
    config_file_source: str | None = None,
    config_file_notices: Sequence[str] = (),
    cli_layer: Mapping[str, Any] | None = None,
    cli_source: str = "command line",
    run_dir: Path | None = None,
    fresh: bool = False,
    reporter: Reporter | None = None,
    allow_unreachable: bool = False,
) -> RunResult:
    """Load the problem, resolve the config, check the models, create the run, score the
    seed and run it. ``config_file_notices`` are shown with the problem's (what an
    OpenEvolve config file did not apply: :func:`evoforge.openevolve_compat.read_config_file`).
    A model that fails the check (:mod:`evoforge.llm.preflight`) stops
    it before anything is created, unless ``allow_unreachable`` (then it is a note)."""
    problem = load_problem(problem_dir)
    layers = (
        (str(Path(problem_dir) / "config.yaml"), problem.config_layer),
        (config_file_source or "--config file", config_file_layer),
        (cli_source, cli_layer),
    )
    config = resolve_config(
        problem_layer=problem.config_layer,
        file_layer=config_file_layer,
        cli_layer=cli_layer,
        problem_source=layers[0][0],
        file_source=layers[1][0],
        cli_source=cli_source,
    )
    check_requirements(Path(problem_dir), config.evaluator.python)
    chosen = reporter or make_reporter(config.run.log_mode)
    for notice in (*problem.notices, *config_file_notices, *unread_settings(layers, config)):
        chosen.note(notice)
    if any(OPERATORS.has(name, "symbolic") for name in config.operators.enabled):
        for block in uneditable_blocks(problem.initial_code):
            chosen.note(f"the symbolic operators can make no child of {block}")
    _check_models(config, chosen, allow_unreachable)
    if run_dir is None:
        target, made = default_run_dir(problem), True
    else:
        target, made = run_dir, not run_dir.exists()
        if fresh:
            _refuse_foreign_files(target)  # before the lock writes anything into it
    lock_was_there = (target / LOCK_FILENAME).exists()
    with RunLock(target):
        try:
            if fresh:
                _clear_run_dir(target)
            with _InterruptAfterSeed(chosen.note, target) as interrupt:
                engine = Engine.create(problem, config, target, locked=True)
        except BaseException:
            _tidy_failed_start(target, made, lock_was_there)
            raise
        interrupt.check(engine)
        notice = engine.evaluator.form_notice
        if "warning" in notice:
            chosen.note(notice)
        else:
            chosen.info(notice)
        if config.splits.enabled and engine.evaluator.form == "shared-process":
            chosen.note(SHARED_SPLITS_WARNING)
        if config.splits.enabled and config.evaluator.cascade and engine.evaluator.cascades:
            chosen.note(SPLITS_CASCADE_NOTE)
        for start_notice in engine.start_notices:
            chosen.note(start_notice)
        try:
            return _with_final_choice(
                engine, drive(engine, _budget(config), chosen, config.run.workers), chosen
            )
        finally:
            engine.close()


def _tidy_failed_start(run_dir: Path, made: bool, lock_was_there: bool) -> None:
    """After a start that failed before any run existed (the seed did not score, the
    evaluation backend could not start, the database could not be made): remove what the
    start wrote, the directory too when the start made it. A directory that holds a run
    is left as it is. Called holding the run's lock, so that a start that takes it next
    finds the directory tidied, never tidied under it."""
    if (run_dir / RunDatabase.FILENAME).exists():
        return
    shutil.rmtree(run_dir / "problem", ignore_errors=True)
    if not lock_was_there:
        (run_dir / LOCK_FILENAME).unlink(missing_ok=True)
    if made:
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # only when empty


@_stopped_by_signals
def resume_run(
    run_dir: Path,
    *,
    extra_iterations: int | None = None,
    extra_evaluations: int | None = None,
    log_mode: str | None = None,
    reporter: Reporter | None = None,
    llm_base_url: str | None = None,
    ray_address: str | None = None,
    allow_unreachable: bool = False,
) -> RunResult:
    """Continue a run. Without ``extra_iterations`` it completes the stored budget;
    with it, it runs that many iterations beyond those already committed; with
    ``extra_evaluations``, its evaluations budget allows that many beyond those made. Each
    becomes the run's budget. When more was asked for but the run would stop before its
    first step (its target met, its evaluations or a model budget spent),
    :class:`EngineError` says which and nothing runs.
    ``llm_base_url`` moves the run's models to another endpoint, ``ray_address`` its
    evaluations to another Ray cluster (see :meth:`Engine.open`).
    The models are checked first, as for :func:`start_run`."""
    if not (run_dir / RunDatabase.FILENAME).is_file():
        raise EngineError(f"{run_dir} holds no run (no {RunDatabase.FILENAME})")
    reporters: list[Reporter] = [] if reporter is None else [reporter]

    def check_models(config: Config) -> None:  # before open() stores or starts anything
        if not reporters:
            reporters.append(make_reporter(log_mode or config.run.log_mode))
        _check_models(config, reporters[0], allow_unreachable)

    with RunLock(run_dir):
        with _InterruptAfterSeed(
            (reporter or make_reporter("quiet")).note, run_dir
        ) as interrupt:  # open() scores the seed of a run stopped before that
            engine = Engine.open(
                run_dir,
                llm_base_url=llm_base_url,
                ray_address=ray_address,
                check_config=check_models,
                locked=True,
            )
        interrupt.check(engine)
        try:
            config = engine.config
            budget = _budget(config)
            stored_budget = engine.db.get_state("budget_iterations")
            iterations = int(stored_budget) if stored_budget is not None else budget.iterations
            if extra_iterations is not None:
                iterations = engine.counters.iterations + extra_iterations
            stored_evaluations = engine.db.get_state("budget_evaluations")
            evaluations = (
                int(stored_evaluations)
                if stored_evaluations is not None
                else budget.max_evaluations
            )
            if extra_evaluations is not None:
                evaluations = engine.counters.evaluations + extra_evaluations
            budget = Budget(
                iterations=iterations,
                max_evaluations=evaluations,
                max_wall_time_s=budget.max_wall_time_s,
                target_score=budget.target_score,
            )
            if extra_iterations or extra_evaluations:
                _refuse_a_resume_that_cannot_step(engine, budget)
            chosen = reporters[0]
            for start_notice in engine.start_notices:  # a run whose seed open() scored
                chosen.note(start_notice)
            return _with_final_choice(
                engine, drive(engine, budget, chosen, config.run.workers), chosen
            )
        finally:
            engine.close()
