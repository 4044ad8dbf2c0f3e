"""What an evaluation backend hands back: the sandbox's records of one run, unjudged."""

from __future__ import annotations

from dataclasses import dataclass

from evoforge.evaluation.sandbox.records import SandboxRun

__all__ = ["RawEvaluation"]


@dataclass(frozen=True)
class RawEvaluation:
    """The sandbox's records of one evaluation, before any judging.

    ``run`` is the evaluator side (the only side in the shared-process form), ``candidate``
    the candidate side in the isolated form. ``run`` is ``None`` when no run happened, and
    then ``error`` says why (the machinery failed, a worker was lost and retries ran out)
    and ``error_detail`` may hold a traceback. ``attempts`` counts the tries a backend made
    (more than one only after a lost worker); ``worker`` names where the last one ran;
    ``notes`` are what the backend wants kept with the program (a retry and why).
    ``problem_dir`` is the problem directory the evaluator side read, where it ran (empty:
    the judge's own), so that the judge can show it under a fixed name
    (:mod:`evoforge.evaluation.shown_paths`). Nothing here is a score:
    :meth:`ProblemEvaluator.judge` computes that on the driver.

    ``tasks`` holds, for a split scored task by task (:mod:`evoforge.evaluation.split_tasks`),
    the (evaluator side, candidate side) records of each task that ran, in task order;
    ``run`` and ``candidate`` are then the last of them.
    """

    run: SandboxRun | None
    candidate: SandboxRun | None = None
    duration_s: float = 0.0
    error: str = ""
    error_detail: str = ""
    attempts: int = 1
    worker: str = ""
    notes: tuple[str, ...] = ()
    problem_dir: str = ""
    tasks: tuple[tuple[SandboxRun, SandboxRun | None], ...] = ()
