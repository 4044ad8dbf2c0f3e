"""The asynchronous run loop: a thin driver around :class:`~evoforge.engine.Engine`.

It keeps up to ``workers`` evaluations in flight, stops at the first budget reached (iterations,
evaluations, wall time, target score), and on SIGINT/SIGTERM/SIGHUP
(:mod:`evoforge.stop_signals`) stops asking for new work, lets the jobs in flight finish
and commit, and returns; a second signal abandons them (nothing half-done is ever
committed). A job still making its child when the run is interrupted or its wall time
or target is reached (a model's request may hang for minutes with its retries, an
operator may take its time) is cancelled rather than awaited; its iteration is asked
again next. With one worker the loop is strictly sequential, so a run
is reproducible from its seed.

With more workers, the loop asks ahead: besides the ``workers`` jobs that evaluate, more
are proposing (one per process of the proposal pool for every 16 workers, at least one
per process: :func:`proposals_ahead`), so that a worker that finishes finds the next
child ready instead of waiting for its proposal, even when many finish at once (a job
waits for an evaluation slot before its check; see :meth:`Engine.run_job`).

Before the run ends (unless interrupted) the best program is offered one simplification
pass (``run.simplify_best``, :meth:`Engine.simplify_best`) in the last slot of the
iteration and evaluation budgets, kept for it; when the best has nothing to simplify, ordinary
children use the slot, simplified before their check, so that a best found there is
clean too. The budgets always hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evoforge.blocking import run_to_completion
from evoforge.engine import Engine, Job, StepReport
from evoforge.kinds import StopReason
from evoforge.program import Program
from evoforge.report.progress import Reporter
from evoforge.running_time import SPANS_STATE, span_ended, span_started
from evoforge.stop_signals import stop_signals, when_received
from evoforge.storage.db import DatabaseError

if TYPE_CHECKING:
    from evoforge.llm.router import ModelChange
    from evoforge.splits import FinalChoice


@dataclass(frozen=True)
class Budget:
    """Totals for the whole run (not for this invocation), except ``max_wall_time_s``,
    which counts from the start of this invocation."""

    iterations: int
    max_evaluations: int | None = None
    max_wall_time_s: float | None = None
    target_score: float | None = None


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`evoforge.run` or of one ``run``/``resume`` invocation.

    ``stop_reason`` is why it stopped; ``stop_detail`` adds what a person needs to know
    (how many tokens were used, why the models were dropped), empty when nothing.
    """

    run_dir: Path
    best: Program | None
    initial_score: float | None
    iterations: int
    evaluations: int
    stop_reason: StopReason
    failures: dict[str, int] = field(default_factory=dict)
    final: FinalChoice | None = None
    """The program chosen on the holdout and its test score (problems with splits)."""
    stop_detail: str = ""

    @property
    def best_score(self) -> float | None:
        return None if self.best is None else self.best.score

    @property
    def stop_description(self) -> str:
        """The stop reason and its details as one line."""
        return self.stop_reason.describe(self.stop_detail)


class _Stop:
    """Shared stop flags set by signal handlers, interrupts and budgets."""

    def __init__(self, reporter: Reporter) -> None:
        self.reason: StopReason | None = None
        self.detail = ""
        self.abandon = False
        self._reporter = reporter

    def interrupt(self) -> None:
        """A first interrupt lets the evaluations in flight finish; a second abandons them."""
        if self.reason is StopReason.INTERRUPTED:
            self.abandon = True
            self._reporter.note("second interrupt: abandoning evaluations in flight")
        else:
            self.reason = StopReason.INTERRUPTED
            self._reporter.note(
                "interrupted: finishing evaluations in flight (interrupt again to abandon)"
            )


def drive(engine: Engine, budget: Budget, reporter: Reporter, workers: int) -> RunResult:
    """Run the loop to completion in a fresh event loop and return the result. From a
    thread that runs an event loop already (a notebook), the loop runs in a helper thread
    and an interrupt of the caller stops the run as Ctrl-C does."""
    stop = _Stop(reporter)
    reason, detail = run_to_completion(
        lambda: _drive(engine, budget, reporter, workers, stop), on_interrupt=stop.interrupt
    )
    engine.db.check_in_place()  # a run whose database was deleted has not succeeded
    engine.db.set_state(
        {
            "stop_reason": reason.describe(detail),
            "stop_kind": reason.name.lower(),
            "budget_iterations": budget.iterations,
            "budget_evaluations": budget.max_evaluations,
        }
    )
    seed = engine.seed_program
    return RunResult(
        run_dir=engine.run_dir,
        best=engine.best,
        initial_score=None if seed is None else seed.score,
        iterations=engine.counters.iterations,
        evaluations=engine.counters.evaluations,
        stop_reason=reason,
        failures=dict(engine.counters.failures),
        stop_detail=detail,
    )


async def _drive(
    engine: Engine, budget: Budget, reporter: Reporter, workers: int, stop: _Stop
) -> tuple[StopReason, str]:
    loop = asyncio.get_running_loop()
    installed: dict[signal.Signals, Any] = {}  # each signal taken over, and its handler before
    for sig in stop_signals():
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            previous = signal.getsignal(sig)
            loop.add_signal_handler(sig, when_received(sig, stop.interrupt))
            installed[sig] = previous

    started = time.monotonic()
    in_flight: set[asyncio.Task[StepReport]] = set()
    jobs: dict[asyncio.Task[StepReport], Job] = {}
    finished = _Finished()
    # running again: the stop of an earlier invocation no longer describes the run
    engine.db.delete_state(("stop_reason", "stop_kind"))
    engine.db.set_state(  # and this invocation's running time starts (evoforge.running_time)
        {
            "budget_iterations": budget.iterations,
            "budget_evaluations": budget.max_evaluations,
            SPANS_STATE: span_started(engine.db.get_state(SPANS_STATE), time.time()),
        }
    )
    reporter.start(engine, budget)
    if engine.llm is not None:
        engine.llm.router.listener = lambda change: _announce(engine, reporter, change)
    # the final simplification of the best: offered at most once, in a slot of its own
    final_done = budget.iterations <= 0 or not engine.config.run.simplify_best
    engine.simplify_children = False  # until the final pass has had its slot
    ahead = proposals_ahead(engine, workers)
    slots = asyncio.Semaphore(workers) if ahead else None
    try:
        while True:
            if stop.reason is None:
                reached = _budget_reached(engine, budget, started)
                if reached is not None:
                    stop.reason, stop.detail = reached
            while (
                stop.reason is None
                and len(in_flight) < workers + ahead
                and _may_ask(engine, budget, len(in_flight), keep_final=not final_done)
            ):
                job = engine.ask()
                task = asyncio.create_task(engine.run_job(job, slots))
                task.add_done_callback(finished.add)
                in_flight.add(task)
                jobs[task] = job
            if stop.reason in _NO_WAITING_ON_PROPOSALS:
                # stopping: a child still being made (a model's request may hang for
                # minutes with its retries, an operator may take its time) is not worth
                # waiting for; evaluations finish
                for task in in_flight:
                    if engine.still_proposing(jobs[task]):
                        task.cancel()
            if not in_flight:
                if stop.reason is None and not final_done:
                    # only the slot kept for the final pass is left: use it, and should the
                    # pass have nothing to offer after all, let ordinary children fill it
                    final_done = True
                    await _simplify_best(engine, reporter)
                    continue
                break
            for task in await finished.wait(timeout_s=0.5):
                in_flight.discard(task)
                job = jobs.pop(task)
                if task.cancelled():
                    engine.withdraw(job)
                    continue
                reporter.step(engine, task.result())
            if stop.abandon:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)
                in_flight.clear()
                break
            reporter.tick(engine)
        if stop.reason is not StopReason.INTERRUPTED and not final_done and _fits(engine, budget):
            await _simplify_best(engine, reporter)  # stopped by wall time, target, models
    finally:
        for sig, previous in installed.items():
            loop.remove_signal_handler(sig)  # which sets the default handler: put back the
            if previous is not None:  # caller's (a SIGTERM that stops a run's last steps)
                signal.signal(sig, previous)
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        with contextlib.suppress(DatabaseError):  # unrecorded, it ends at its last commit
            engine.db.set_state(
                {SPANS_STATE: span_ended(engine.db.get_state(SPANS_STATE), time.time())}
            )
        try:
            reporter.stop(engine)  # before the model request process stops
        finally:
            if engine.llm is not None:
                engine.llm.router.listener = None
                await engine.llm.router.aclose()  # kept-alive connections end with this loop
    if stop.reason is not None:
        return stop.reason, stop.detail
    return _budget_reached(engine, budget, started) or (StopReason.ITERATIONS, "")


#: Stop reasons on which children still being made are cancelled, not awaited.
_NO_WAITING_ON_PROPOSALS = frozenset(
    {StopReason.INTERRUPTED, StopReason.WALL_TIME, StopReason.TARGET}
)


class _Finished:
    """The loop's jobs that finished, in the order they finished.

    Each task reports itself once, when it ends (its done callback), so waiting for the
    next one costs the same with 2 or 256 jobs in flight; ``asyncio.wait`` on the whole
    set would add and remove a callback on every job in flight at every wake-up.
    """

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[StepReport]] = []
        self._wake = asyncio.Event()

    def add(self, task: asyncio.Task[StepReport]) -> None:
        self._tasks.append(task)
        self._wake.set()

    async def wait(self, timeout_s: float) -> list[asyncio.Task[StepReport]]:
        """Every task finished since the last call (none after ``timeout_s`` seconds
        without one)."""
        if not self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()
        self._wake.clear()
        tasks, self._tasks = self._tasks, []
        return tasks


WORKERS_PER_AHEAD = 16
"""Workers for each job per proposal process that the loop keeps proposing ahead."""


def proposals_ahead(engine: Engine, workers: int) -> int:
    """Jobs the loop keeps proposing beyond its ``workers`` evaluations: per process of
    the engine's proposal pool, one for every :data:`WORKERS_PER_AHEAD` workers and at
    least one; none with one worker (a sequential run stays reproducible) or without a
    pool (the operators then run on the loop itself).

    Evaluations that started together end together: with many workers, a burst of them
    finishes within one proposal's time, and a worker that finds no child ready waits for
    one. The jobs ahead are that burst's buffer, so they grow with the workers."""
    if workers <= 1 or engine.proposals is None:
        return 0
    return engine.proposals.processes * max(1, workers // WORKERS_PER_AHEAD)


async def _simplify_best(engine: Engine, reporter: Reporter) -> None:
    report = await engine.simplify_best()
    if report is not None:
        reporter.step(engine, report)


def _announce(engine: Engine, reporter: Reporter, change: ModelChange) -> None:
    """Tell the user that a model was rested or dropped, and what happens without one."""
    if change.state == "rested":
        message = f"language model {change.label} rested for {change.cooldown_s:g} s: "
    else:
        message = f"language model {change.label} dropped: "
    reporter.event(
        "llm_model",
        message + change.reason,
        model=change.label,
        state=change.state,
        reason=change.reason,
        usable_left=change.usable_left,
    )
    if change.usable_left > 0:
        return
    carry_on = engine.models_gone_symbolic()
    reporter.event(
        "llm_no_model",
        "no usable language model left: "
        + ("carrying on with the symbolic operators" if carry_on else "stopping the run"),
        action="symbolic" if carry_on else "stop",
    )


def _fits(engine: Engine, budget: Budget) -> bool:
    """Whether one more step fits the iteration and evaluation budgets."""
    return _may_ask(engine, budget, 0, keep_final=False)


def _may_ask(engine: Engine, budget: Budget, in_flight: int, *, keep_final: bool) -> bool:
    """Whether one more job fits the iteration and evaluation budgets, counting those in
    flight and (``keep_final``) the slot kept for the final simplification of the best."""
    kept = in_flight + (1 if keep_final else 0)
    if engine.counters.iterations + kept >= budget.iterations:
        return False
    return budget.max_evaluations is None or (
        engine.counters.evaluations + kept < budget.max_evaluations
    )


def stop_at_start(engine: Engine, budget: Budget) -> StopReason | None:
    """The stop that would end a run on ``engine`` with ``budget`` before its first step
    (its target met, its evaluations or a model budget spent, its iterations done), or
    ``None`` when it would take one."""
    reached = _budget_reached(engine, budget, time.monotonic())
    return None if reached is None else reached[0]


def _budget_reached(
    engine: Engine, budget: Budget, started: float
) -> tuple[StopReason, str] | None:
    best = engine.best
    if (
        budget.target_score is not None
        and best is not None
        and best.score is not None
        and best.score >= budget.target_score
    ):
        return StopReason.TARGET, ""
    if engine.counters.iterations >= budget.iterations:
        return StopReason.ITERATIONS, ""
    llm_reason = engine.llm_stop_reason()  # token or cost budget, or no usable model
    if llm_reason is not None:
        return llm_reason
    if budget.max_evaluations is not None and engine.counters.evaluations >= budget.max_evaluations:
        return StopReason.EVALUATIONS, ""
    if budget.max_wall_time_s is not None and time.monotonic() - started >= budget.max_wall_time_s:
        return StopReason.WALL_TIME, ""
    return None
