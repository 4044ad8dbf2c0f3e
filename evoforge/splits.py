"""Instance splits: search on one, choose on another through Thresholdout, report on a third.

A problem scored on instances may declare three splits (``splits.enabled: true`` in its
``config.yaml``; its ``evaluate_candidate``/``evaluate`` and ``verify`` then take
``split=``):

* ``search``: what every evaluation of the search uses (the only score the archive, the
  bandits and the operators ever see);
* ``holdout``: queried only at the end, through :class:`~evoforge.selection.thresholdout.
  Thresholdout, to choose the final program among the best programs of the search;
* ``test``: evaluated once, on that final choice, to report how the result generalises.

A run's start checks that its seed scores on the holdout and the test split
(:func:`check_seed`), so that a problem that cannot score one stops before its search.

The split is always chosen on the trusted side (:meth:`ProblemEvaluator.evaluate`'s
``split``); the candidate never names it and never reads an instance.

:func:`choose_final` runs the final choice on a finished (or stopped) run. It is idempotent
and resumable: every holdout query and its answer is an event of the run database
(``thresholdout_query``) written before it counts, a program already queried is never
queried again (but for one more try after a timeout: :data:`HOLDOUT_ATTEMPTS`), and the
choice itself is kept in the run's state (``final_choice``). A run
resumed for more iterations chooses again at its end, reusing every earlier answer; the test
split is scored again only when the choice changed (``test_evaluations`` counts how often it
was used).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from evoforge.config import SplitsConfig
from evoforge.program import EvalStatus, EvaluationResult, Program
from evoforge.selection.thresholdout import Thresholdout, ThresholdoutAnswer
from evoforge.storage.db import RunDatabase

__all__ = [
    "FINAL_STATE",
    "HOLDOUT",
    "QUERY_EVENT",
    "SEARCH",
    "SPLITS",
    "TEST",
    "FinalChoice",
    "SplitCheck",
    "check_seed",
    "choose_final",
    "final_choice_outdated",
    "final_choice_pending",
    "holdout_queries",
    "read_final",
    "search_split",
]

SEARCH = "search"
HOLDOUT = "holdout"
TEST = "test"
SPLITS = (SEARCH, HOLDOUT, TEST)
QUERY_EVENT = "thresholdout_query"
FINAL_STATE = "final_choice"

Evaluate = Callable[[str, str], EvaluationResult]
"""``evaluate(code, split)``: score a program on one split (the sandboxed evaluator)."""


def search_split(config: SplitsConfig) -> str | None:
    """The split every search evaluation uses: ``search``, or ``None`` without splits."""
    return SEARCH if config.enabled else None


@dataclass(frozen=True)
class SplitCheck:
    """What trying a run's seed on the holdout and the test split found (:func:`check_seed`):
    ``failure``, why a split gave it no score (the run cannot start), or ``warning``, when
    it scores exactly as on the search split everywhere (the evaluator may ignore
    ``split``); ``durations``, each split's evaluation in seconds (those that ran)."""

    failure: str | None = None
    warning: str | None = None
    durations: Mapping[str, float] = field(default_factory=dict)


def check_seed(evaluate: Evaluate, code: str, search: EvaluationResult) -> SplitCheck:
    """Try ``code``, a run's seed that scored ``search`` on the search split, on the holdout
    and the test split.

    A run does this before its search starts, so that an evaluator that cannot score a
    split (its instances missing, empty, or under another name) stops the run at once,
    not after the whole search at its final choice, and so that one that gives every split
    the same metrics (it ignores ``split=``: the holdout and the test would be the search's
    instances) is named. Nothing else is looked at: the scores are neither kept nor shown
    (the holdout is still answered only through Thresholdout, and only the final program's
    test score is reported)."""
    results = []
    durations = {SEARCH: search.duration_s}
    for split in (HOLDOUT, TEST):
        result = evaluate(code, split)
        durations[split] = result.duration_s
        if result.status is not EvalStatus.OK or result.score is None:
            return SplitCheck(
                failure=f"the seed program did not score on the {split} split "
                f"({result.status.value}): {last_line(result.reason)}; with splits.enabled "
                f"the evaluator must score every split ({', '.join(SPLITS)})",
                durations=durations,
            )
        results.append(result)
    if all(result.metrics == search.metrics for result in results):
        return SplitCheck(
            warning="warning: the seed program has the same metrics on the search, holdout "
            "and test splits; does the evaluator score the instances of the split it is "
            "given (split=)?",
            durations=durations,
        )
    return SplitCheck(durations=durations)


@dataclass(frozen=True)
class FinalChoice:
    """The final program of a run with splits, and what each split says of it.

    ``holdout_estimate`` is Thresholdout's answer for it (``holdout_source`` says where the
    answer came from: ``search``, ``holdout``, ``exhausted`` when the budget was spent, or
    ``none`` when no candidate could be scored on the holdout and the best search score was
    taken). ``gap`` is ``search_score - test_score``: how much the search score overstates
    the result on instances the search never saw. ``holdout_spent`` says the Thresholdout
    budget ran out (later answers fell back to search scores). ``last_seq``: the run's
    last program when the choice was made (:func:`final_choice_outdated`).
    """

    program_id: str
    search_score: float
    holdout_estimate: float
    holdout_source: str
    test_score: float | None
    test_status: str
    test_reason: str
    gap: float | None
    best_search_program_id: str
    candidates: int
    queries: int
    budget: int
    budget_left: int
    holdout_spent: bool
    test_evaluations: int
    holdout_failed: int = 0  # candidates whose holdout evaluation failed (cannot win)
    holdout_failure: str = ""  # the first such failure: its status and reason
    # the run's last program (its seq) when the choice was made; None: stored before it was
    last_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinalChoice:
        """From :meth:`to_dict`'s form; fields added since a run was stored take their
        defaults."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True)
class _Query:
    """One stored holdout query: the mechanism's answer, or a holdout evaluation that failed
    (``answer`` is ``None``; such a program cannot be chosen)."""

    program_id: str
    answer: ThresholdoutAnswer | None
    status: str
    reason: str


#: How many times in all one candidate is put to the holdout while its evaluation there
#: times out: a timeout may be the machine's load at that moment rather than the program, so
#: it is asked once more. Other failures (an exception, unusable metrics) are the program's
#: own and are not asked again.
HOLDOUT_ATTEMPTS = 2


def holdout_queries(db: RunDatabase) -> list[dict[str, Any]]:
    """Every stored holdout query, in order (the payloads of ``thresholdout_query``)."""
    return [event.payload for event in db.events(QUERY_EVENT)]


def read_final(db: RunDatabase) -> FinalChoice | None:
    """The run's final choice, if it has been made."""
    stored = db.get_state(FINAL_STATE)
    return None if stored is None else FinalChoice.from_dict(stored)


def final_choice_pending(
    *, splits_enabled: bool, final_made: bool, stop_reason: Any, stop_kind: Any
) -> bool:
    """Whether a run with instance splits stopped before making its final choice (a
    ``resume`` makes it). A run stopped by an interrupt is not counted: its search is not
    done, and the resume that finishes it chooses at its end."""
    return (
        splits_enabled and not final_made and stop_reason is not None and stop_kind != "interrupted"
    )


def final_choice_outdated(final: FinalChoice, last_seq: int) -> bool:
    """Whether the search went on after ``final`` was made (the run's programs now end at
    ``last_seq``): a resume that added iterations and was stopped before choosing again.
    The choice then speaks of the run as it was; the resume that finishes it chooses
    again."""
    return final.last_seq is not None and last_seq > final.last_seq


def _stored_queries(db: RunDatabase) -> list[_Query]:
    queries = []
    for payload in holdout_queries(db):
        answer = None
        if payload.get("answer") is not None:
            answer = ThresholdoutAnswer(
                query=int(payload["query"]),
                search=float(payload["search"]),
                holdout=float(payload["holdout"]),
                answer=float(payload["answer"]),
                source=str(payload["source"]),
                budget_left=int(payload["budget_left"]),
            )
        queries.append(
            _Query(str(payload["program_id"]), answer, str(payload["status"]), payload["reason"])
        )
    return queries


def choose_final(
    db: RunDatabase,
    evaluate: Evaluate,
    config: SplitsConfig,
    seed: int,
    note: Callable[[str], None] = lambda _line: None,
) -> FinalChoice | None:
    """Choose the final program through Thresholdout on the holdout, then score it on test.

    The candidates are the ``config.final_candidates`` best programs by search score, one
    per distinct score (the earliest): programs that tie on every search instance are
    mostly the same behaviour in different code, and asking the holdout about each of them
    would spend its queries without offering it a choice. Each candidate not queried before
    is scored on the holdout and put to the mechanism (search score against holdout score);
    the candidate with the highest answer wins (ties: the higher search score, then the
    earlier program). A candidate that fails
    on the holdout cannot win; one whose holdout evaluation timed out is asked again, up to
    :data:`HOLDOUT_ATTEMPTS` times in all (over every choice the run makes; each attempt is
    stored). Returns ``None`` when the run has no scored program.
    ``note`` receives the lines the user should see (the budget running out, the choice).
    """
    candidates = db.top_programs(config.final_candidates, distinct_scores=True)
    if not candidates:
        return None
    settings = config.thresholdout
    queries = _stored_queries(db)
    mechanism = Thresholdout.resume(
        settings.threshold,
        settings.noise,
        settings.budget,
        seed,
        [query.answer for query in queries if query.answer is not None],
    )
    by_program = {query.program_id: query for query in queries}  # the last query of each
    attempts = Counter(query.program_id for query in queries)
    seq = db.max_seq()
    for program in candidates:
        while program.score is not None and _to_ask(
            by_program.get(program.id), attempts[program.id]
        ):
            attempts[program.id] += 1
            was_spent = mechanism.exhausted
            result = evaluate(program.code, HOLDOUT)
            query = _ask(mechanism, program, result)
            payload: dict[str, Any] = {
                "program_id": program.id,
                "status": query.status,
                "reason": query.reason,
                **(query.answer.to_dict() if query.answer is not None else {"answer": None}),
            }
            db.add_event(seq, QUERY_EVENT, payload)
            by_program[program.id] = query
            if mechanism.exhausted and not was_spent:
                note(
                    f"holdout: the Thresholdout budget ({settings.budget} answers from the "
                    "holdout) is spent; later queries fall back to the search score"
                )
    chosen, answer = _winner(candidates, by_program)
    failed = [
        query
        for query in (by_program.get(program.id) for program in candidates)
        if query is not None and query.answer is None
    ]
    final = _finish(db, evaluate, config, candidates, chosen, answer, mechanism, note, failed)
    return final


def _to_ask(query: _Query | None, attempts: int) -> bool:
    """Whether a candidate whose last holdout query is ``query`` (``None``: never asked),
    after ``attempts`` of them, is put to the holdout (again)."""
    if query is None:
        return True
    timed_out = query.answer is None and query.status == EvalStatus.TIMEOUT.value
    return timed_out and attempts < HOLDOUT_ATTEMPTS


def _ask(mechanism: Thresholdout, program: Program, result: EvaluationResult) -> _Query:
    score = result.score
    if result.status is not EvalStatus.OK or score is None or not math.isfinite(score):
        reason = result.reason or "no score"
        return _Query(program.id, None, result.status.value, reason[:500])
    assert program.score is not None
    return _Query(program.id, mechanism.query(program.score, score), EvalStatus.OK.value, "")


def _winner(
    candidates: list[Program], by_program: dict[str, _Query]
) -> tuple[Program, ThresholdoutAnswer | None]:
    """The candidate with the highest answer, or the best by search score if none has one."""
    best: tuple[float, float, int] | None = None
    chosen: tuple[Program, ThresholdoutAnswer | None] = (candidates[0], None)
    for rank, program in enumerate(candidates):
        query = by_program.get(program.id)
        if query is None or query.answer is None or program.score is None:
            continue
        key = (query.answer.answer, program.score, -rank)
        if best is None or key > best:
            best, chosen = key, (program, query.answer)
    return chosen


def _finish(
    db: RunDatabase,
    evaluate: Evaluate,
    config: SplitsConfig,
    candidates: list[Program],
    chosen: Program,
    answer: ThresholdoutAnswer | None,
    mechanism: Thresholdout,
    note: Callable[[str], None],
    failed: list[_Query],
) -> FinalChoice:
    """Score the choice on the test split (unless it was already) and store the choice;
    ``failed``: the candidates' holdout queries whose evaluation failed."""
    earlier = read_final(db)
    assert chosen.score is not None
    if earlier is not None and earlier.program_id == chosen.id:
        test_score, test_status, test_reason = (
            earlier.test_score,
            earlier.test_status,
            earlier.test_reason,
        )
        test_evaluations = earlier.test_evaluations
    else:
        result = evaluate(chosen.code, TEST)
        test_ok = result.status is EvalStatus.OK and result.score is not None
        test_score = result.score if test_ok else None
        test_status, test_reason = result.status.value, (result.reason or "")[:500]
        test_evaluations = (earlier.test_evaluations if earlier is not None else 0) + 1
    final = FinalChoice(
        program_id=chosen.id,
        search_score=chosen.score,
        holdout_estimate=answer.answer if answer is not None else chosen.score,
        holdout_source=answer.source if answer is not None else "none",
        test_score=test_score,
        test_status=test_status,
        test_reason=test_reason,
        gap=None if test_score is None else chosen.score - test_score,
        best_search_program_id=candidates[0].id,
        candidates=len(candidates),
        queries=mechanism.queries,
        budget=config.thresholdout.budget,
        budget_left=mechanism.budget_left,
        holdout_spent=mechanism.exhausted,
        test_evaluations=test_evaluations,
        holdout_failed=len(failed),
        holdout_failure=f"{failed[0].status}: {failed[0].reason}"[:500] if failed else "",
        last_seq=db.max_seq(),
    )
    db.set_state({FINAL_STATE: final.to_dict()})
    shown_test = "failed" if test_score is None else f"{test_score:.6g}"
    note(
        f"final choice {chosen.id} (of {len(candidates)} by search score): search "
        f"{chosen.score:.6g}, holdout estimate {final.holdout_estimate:.6g} "
        f"({final.holdout_source}), test {shown_test}"
    )
    if failed:
        note(
            f"holdout: {len(failed)} of {len(candidates)} candidates failed there "
            f"({last_line(final.holdout_failure)})"
        )
    if test_score is None:
        note(f"test: the choice was not scored ({test_status}: {last_line(test_reason)})")
    return final


def last_line(text: str, default: str = "no reason given") -> str:
    """The last non-blank line of ``text`` (at most 200 characters), or ``default``."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else default
