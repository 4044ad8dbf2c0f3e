"""Splits scored task by task, each task with a fresh candidate.

A problem whose split holds several independent *tasks* (several pools of examples, several
instances) may want each task scored by a candidate that has seen no other task: within one
process a program can remember what earlier calls showed it, and where one task's data is
another's answer key (one task's training pool lies in another task's evaluation set), such
memory inflates the score without solving anything. Such a problem defines, in
``evaluator.py``, beside ``evaluate_candidate`` and ``verify``::

    def split_tasks(split: str) -> int:       # how many tasks `split` has (trusted code)
        ...
    def evaluate_candidate(candidate, split="search", task=0): ...   # one task's output
    def verify(outputs, split="search"): ...  # outputs: every task's output, in task order

Then each evaluation on a split starts one evaluator process and one candidate process per
task (``task=0, 1, ...``, one after the other, each pair with the evaluation's limits),
stops at the first task that fails (that failure is the evaluation's, naming the task), and
hands ``verify`` the list of every task's output. Without a split (``evaluate(code)``) no
task is used and the problem is called as one without this function. The count is asked
of ``split_tasks`` in evoforge's process, like ``verify``, never of the sandboxed side.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

__all__ = ["MAX_TASKS", "TASKS_FUNCTION", "task_count"]

TASKS_FUNCTION = "split_tasks"
MAX_TASKS = 256
"""The most tasks one split may have (each costs two processes per evaluation)."""


def task_count(split_tasks: Callable[[str], object], split: str) -> int:
    """``split_tasks(split)``, checked: a whole number from 1 to :data:`MAX_TASKS`.

    Raises ``ValueError`` naming the function, the split and what it returned otherwise
    (and lets the function's own exception through)."""
    answer = split_tasks(split)
    try:
        count = operator.index(answer)  # type: ignore[arg-type]
    except TypeError:
        count = None
    if isinstance(answer, bool) or count is None or not 1 <= count <= MAX_TASKS:
        raise ValueError(
            f"{TASKS_FUNCTION}({split!r}) returned {answer!r}; expected a whole number of "
            f"tasks from 1 to {MAX_TASKS}"
        )
    return count
