"""Progress output of a run: a live ``rich`` display, JSON lines, or quiet.

A :class:`Reporter` is told about the start, every committed step, periodic ticks and
the end; it never influences the run.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evoforge.program import EvalStatus
from evoforge.terminal import printable

if TYPE_CHECKING:
    from evoforge.engine import Engine, StepReport
    from evoforge.loop import Budget


class Reporter:
    """Base reporter: prints nothing."""

    def start(self, engine: Engine, budget: Budget) -> None:
        """Called once before the first job."""

    def step(self, engine: Engine, report: StepReport) -> None:
        """Called after each committed step."""

    def tick(self, engine: Engine) -> None:
        """Called about twice a second while the run waits."""

    def note(self, message: str) -> None:
        """A one-line message for the user: warnings reach stderr even in quiet mode."""
        print(printable(message), file=sys.stderr, flush=True)

    def event(self, name: str, message: str, **fields: Any) -> None:
        """Something the user must know about (a model rested or dropped): ``message``
        as a note; the JSON-lines reporter emits ``name`` with ``fields`` instead."""
        self.note(message)

    def info(self, message: str) -> None:
        """A line worth showing but no warning (how the run is set up): a note, except in
        quiet mode, which shows only warnings and the result."""

    def stop(self, engine: Engine) -> None:
        """Called once at the end."""


def refused_children(engine: Engine) -> int:
    """Children refused unevaluated so far (no change, a copy, a broken name)."""
    return engine.counters.failures.get(EvalStatus.REJECTED.value, 0)


def failed_evaluations(engine: Engine) -> int:
    """Children evaluated without a score so far (failed, timed out, invalid): the
    engine's failure counts without the children refused unevaluated."""
    return sum(engine.counters.failures.values()) - refused_children(engine)


def _format_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.6g}"


#: Events of a step that the progress output shows (the search changing its course).
SHOWN_EVENTS = ("anneal", "island_restart", "best_simplified")


def describe_event(kind: str, payload: dict[str, Any]) -> str:
    """One line for a shown event."""
    if kind == "anneal":
        return (
            f"  island {payload['island']} collapsed (entropy {payload['entropy']:.2f}, "
            f"{payload['stagnation']} children without progress): temperature "
            f"{payload['temperature']:g}"
        )
    if kind == "island_restart":
        return (
            f"  island {payload['island']} restarted from {len(payload['program_ids'])} "
            "global elites"
        )
    return (
        f"  best simplified: {payload['program_id']} replaces {payload['from']} "
        f"(score {_format_score(payload['score'])})"
    )


#: Progress lines on a stream that is no terminal: one per this share of the budget.
PLAIN_LINE_SHARE = 0.1


class RichReporter(Reporter):
    """A live progress bar with iteration, best score, evaluations per second, failures
    and children refused unevaluated.

    Where stderr is no interactive terminal (a log file, a pipe, ``TERM=dumb``) a bar
    cannot redraw itself: the same figures come as plain lines instead, one at each tenth
    of the iteration budget and one at the end (:meth:`progress_line`)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)  # lines stay whole
        self._plain = not self.console.is_interactive
        self._total = 0
        self._next_line_at = 0
        self._last_line_at: int | None = None  # the iterations of the last plain line
        self._progress = Progress(
            TextColumn("[bold]evolving[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TextColumn("{task.fields[rate]} eval/s"),
            TextColumn("failures {task.fields[failures]}, refused {task.fields[refused]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._task: Any = None
        self._started = 0.0
        self._evaluations_at_start = 0

    def start(self, engine: Engine, budget: Budget) -> None:
        self._started = time.monotonic()
        self._evaluations_at_start = engine.counters.evaluations
        self._total = budget.iterations
        self._next_line_at = self._milestone_after(engine.counters.iterations)
        if not self._plain:
            self._progress.start()
        self._task = self._progress.add_task(
            "run",
            total=budget.iterations,
            completed=engine.counters.iterations,
            best=_format_score(engine.best.score if engine.best else None),
            rate="0.0",
            failures=0,
            refused=0,
        )

    def _rate(self, engine: Engine) -> float:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return (engine.counters.evaluations - self._evaluations_at_start) / elapsed

    def _refresh(self, engine: Engine) -> None:
        if self._plain:
            if engine.counters.iterations >= self._next_line_at:
                self._print_progress_line(engine)
            return
        self._progress.update(
            self._task,
            completed=engine.counters.iterations,
            best=_format_score(engine.best.score if engine.best else None),
            rate=f"{self._rate(engine):.1f}",
            failures=failed_evaluations(engine),
            refused=refused_children(engine),
        )

    def _milestone_after(self, iterations: int) -> int:
        """The next iteration count, after ``iterations``, that gets a plain line."""
        step = max(1, math.ceil(self._total * PLAIN_LINE_SHARE))
        return (iterations // step + 1) * step

    def _print_progress_line(self, engine: Engine) -> None:
        self._next_line_at = self._milestone_after(engine.counters.iterations)
        self._last_line_at = engine.counters.iterations
        self.console.print(self.progress_line(engine), markup=False, highlight=False)

    def progress_line(self, engine: Engine) -> str:
        """``evolving: 40/400 iterations, best 0.18, 32 evaluations (3.1/s), failures 2,
        refused 6, 0:00:12``: the bar's figures as text. Failures are evaluations that did
        not score (failed, timed out, invalid); refused, children never evaluated (no
        change, a copy, a broken name: see ``evoforge status``)."""
        elapsed = int(time.monotonic() - self._started)
        return (
            f"evolving: {engine.counters.iterations}/{self._total} iterations, best "
            f"{_format_score(engine.best.score if engine.best else None)}, "
            f"{engine.counters.evaluations} evaluations ({self._rate(engine):.1f}/s), "
            f"failures {failed_evaluations(engine)}, "
            f"refused {refused_children(engine)}, "
            f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        )

    def step(self, engine: Engine, report: StepReport) -> None:
        for kind, payload in report.events:
            if kind in SHOWN_EVENTS:
                self._progress.console.print(describe_event(kind, payload))
        if report.new_best:
            self._progress.console.print(
                f"  new best {_format_score(report.program.score)} at iteration "
                f"{report.program.iteration} ({report.program.operator})"
            )
        self._refresh(engine)

    def tick(self, engine: Engine) -> None:
        self._refresh(engine)

    def note(self, message: str) -> None:
        # a note may quote a candidate or a server: no markup, no control characters
        self._progress.console.print(printable(message), markup=False, highlight=False)

    def info(self, message: str) -> None:
        self.note(message)

    def stop(self, engine: Engine) -> None:
        if self._plain:
            if self._last_line_at != engine.counters.iterations:
                self._print_progress_line(engine)
            return
        self._refresh(engine)
        self._progress.stop()


class JsonLinesReporter(Reporter):
    """One JSON object per line on ``stream``: start, each step, notes and the end."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _emit(self, payload: dict[str, Any]) -> None:
        self.stream.write(json.dumps(payload, allow_nan=False, default=str) + "\n")
        self.stream.flush()

    def start(self, engine: Engine, budget: Budget) -> None:
        self._emit(
            {
                "event": "start",
                "run_dir": str(engine.run_dir),
                "iterations_done": engine.counters.iterations,
                "budget_iterations": budget.iterations,
            }
        )

    def step(self, engine: Engine, report: StepReport) -> None:
        program = report.program
        self._emit(
            {
                "event": "step",
                "iteration": program.iteration,
                "program_id": program.id,
                "operator": program.operator,
                "parent_source": program.parent_source,
                "island": program.island,
                "status": program.status.value,
                "reason": program.reason,
                "score": program.score,
                "outcome": None if report.outcome is None else report.outcome.status.value,
                "reward": report.reward,
                "new_best": report.new_best,
                "best_score": engine.best.score if engine.best else None,
            }
        )
        for kind, payload in report.events:
            if kind in SHOWN_EVENTS:
                self._emit({"event": kind, "iteration": program.iteration, **payload})

    def note(self, message: str) -> None:
        self._emit({"event": "note", "message": message})

    def info(self, message: str) -> None:
        self.note(message)

    def event(self, name: str, message: str, **fields: Any) -> None:
        self._emit({"event": name, "message": message, **fields})

    def stop(self, engine: Engine) -> None:
        self._emit(
            {
                "event": "end",
                "iterations": engine.counters.iterations,
                "evaluations": engine.counters.evaluations,
                "best_score": engine.best.score if engine.best else None,
            }
        )


def make_reporter(mode: str) -> Reporter:
    """The reporter for a ``run.log_mode`` value: rich, jsonl or quiet."""
    if mode == "rich":
        return RichReporter()
    if mode == "jsonl":
        return JsonLinesReporter()
    return Reporter()
