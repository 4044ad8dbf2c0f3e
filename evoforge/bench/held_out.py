"""A test score for every engine's result on problems with instance splits.

On a problem with splits (:mod:`evoforge.splits`) the headline is how the result does on
test instances the search never saw. evoforge's engines choose their final program on the
holdout through Thresholdout and score that choice once on test (their runs store it).
The other engines (OpenEvolve, ShinkaEvolve, the seed-only baselines) see the search
instances only and have no holdout, so the program a run reports, its best on the search
instances, is their choice: :func:`with_test_score` scores it once on the test split,
after the run, with the same sandboxed evaluator and the problem's own settings, and puts
the result where evoforge's runs keep theirs (``extra["splits"]``), with ``choice`` saying
which rule picked the program. A test evaluation that fails (or a sandbox that breaks
while it runs) is recorded as such; it never fails the run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from evoforge.bench.records import STATUS_OK, RunRecord

CHOICE_THRESHOLDOUT = "holdout (Thresholdout)"  # evoforge's engines (their runs choose)
CHOICE_BEST_SEARCH = "best search score"  # every other engine: the run's best program


def choice_of(splits: dict[str, Any]) -> str:
    """The rule that picked a record's scored program (records written before this was
    kept are evoforge's own final choices)."""
    choice = splits.get("choice")
    return choice if isinstance(choice, str) else CHOICE_THRESHOLDOUT


def problem_has_splits(problem_dir: Path) -> bool:
    """Whether the problem's settings turn its instance splits on."""
    from evoforge.config import resolve_config
    from evoforge.problem import load_problem

    problem = load_problem(problem_dir)
    return bool(resolve_config(problem_layer=problem.config_layer).splits.enabled)


class TestScorer:
    """Scores programs of one problem on its test split, through one sandboxed evaluator
    (the problem's settings), started once for every program it scores; :meth:`close`
    (or a ``with`` block) stops it."""

    def __init__(self, problem_dir: Path) -> None:
        from evoforge.bench.evaluate_one import problem_evaluator

        _, self.evaluator = problem_evaluator(problem_dir)

    def score(self, code: str) -> dict[str, Any]:
        """Score ``code`` once on the test split: ``test_score`` (``None`` unless it
        scored), ``test_status`` and ``test_reason`` (the last line of a failure's reason)."""
        from evoforge.program import EvalStatus
        from evoforge.splits import TEST, last_line

        result = self.evaluator.evaluate(code, split=TEST)
        scored = result.status is EvalStatus.OK and result.score is not None
        return {
            "test_score": result.score if scored else None,
            "test_status": result.status.value,
            "test_reason": "" if scored else last_line(result.reason or "")[:300],
        }

    def close(self) -> None:
        self.evaluator.close()

    def __enter__(self) -> TestScorer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def score_on_test(problem_dir: Path, code: str) -> dict[str, Any]:
    """:meth:`TestScorer.score` for one program."""
    with TestScorer(problem_dir) as scorer:
        return scorer.score(code)


def with_test_score(record: RunRecord, problem_dir: Path) -> RunRecord:
    """``record`` with its best program's test score in ``extra["splits"]`` when the
    problem has splits and the run has no final choice of its own; otherwise unchanged.

    Only finished runs (``ok``) with a kept best program are scored.
    """
    extra = record.extra if isinstance(record.extra, dict) else {}
    if (
        record.status != STATUS_OK
        or not record.best_code
        or record.best_score is None
        or isinstance(extra.get("splits"), dict)
        or not problem_has_splits(problem_dir)
    ):
        return record
    try:
        test = score_on_test(problem_dir, record.best_code)
    except Exception as exc:  # the sandbox itself broke: the run's own result still stands
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        test = {"test_score": None, "test_status": "error", "test_reason": reason}
    score = test["test_score"]
    splits = {
        "choice": CHOICE_BEST_SEARCH,
        "search_score": record.best_score,
        "holdout_estimate": None,
        **test,
        "gap": None if score is None else record.best_score - score,
        "test_evaluations": 1,
    }
    return dataclasses.replace(record, extra={**extra, "splits": splits})
