"""Summaries of a run read straight from its database, as plain data.

These back ``evoforge best`` and ``evoforge status`` (and their ``--json`` forms, which
scripts and the benchmark harness rely on). They only read, so they work while a run
is still going (SQLite WAL allows a reader beside the writer).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

from evoforge.kinds import RejectionKind
from evoforge.operators.prompt_learning import summarise as summarise_prompt_learning
from evoforge.running_time import SPANS_STATE, RunningClock, read_spans
from evoforge.splits import final_choice_outdated, final_choice_pending, read_final
from evoforge.storage.db import RunDatabase


def best_summary(db: RunDatabase) -> dict[str, Any]:
    """The best program: id, score, initial score, metrics, where it came from, its code."""
    best = db.best_program()
    seed = db.program("seed")
    if best is None:  # every key of a best, empty (a run whose seed is not scored yet)
        return {
            "program_id": None,
            "score": None,
            "initial_score": seed.score if seed else None,
            "improvement": None,
            "metrics": {},
            "iteration_found": None,
            "operator": None,
            "island": None,
            "generation": None,
            "parent_id": None,
            "lineage": [],
            "artifacts": {},
            "code": None,
            "splits": splits_summary(db),
        }
    lineage: list[str] = []
    cursor: str | None = best.id
    seen: set[str] = set()
    while cursor is not None and cursor not in seen:
        seen.add(cursor)
        lineage.append(cursor)
        node = db.program(cursor)
        cursor = None if node is None else node.parent_id
    return {
        "program_id": best.id,
        "score": best.score,
        "initial_score": None if seed is None else seed.score,
        "improvement": _difference(best.score, None if seed is None else seed.score),
        "metrics": dict(best.metrics),
        "iteration_found": best.iteration,
        "operator": best.operator,
        "island": best.island,
        "generation": best.generation,
        "parent_id": best.parent_id,
        "lineage": list(reversed(lineage)),
        "artifacts": dict(best.artifacts),
        "code": best.code,
        "splits": splits_summary(db),
    }


def splits_summary(db: RunDatabase) -> dict[str, Any] | None:
    """For a problem with instance splits, the final choice (:mod:`evoforge.splits`): its
    ``program_id``, ``search_score``, ``holdout_estimate`` (Thresholdout's answer, with
    ``holdout_source``), ``test_score``, ``gap`` (search minus test) and the state of the
    holdout's budget, and ``outdated``, true when the search went on after it was made
    (:func:`evoforge.splits.final_choice_outdated`); ``None`` for a run without splits or
    not finished yet."""
    final = read_final(db)
    if final is None:
        return None
    return {**final.to_dict(), "outdated": final_choice_outdated(final, db.max_seq())}


def status_summary(db: RunDatabase) -> dict[str, Any]:
    """Counts, best so far, failures by status, per-operator and per-parent-source usage
    and rewards, islands, stagnation responses (anneals, restarts), the final
    simplification of the best, and the seconds the run has run (``running_seconds``: its
    invocations' spans, the idle time between them left out, as the report counts it)."""
    uses: dict[str, int] = defaultdict(int)
    source_uses: dict[str, int] = defaultdict(int)
    source_successes: dict[str, int] = defaultdict(int)
    source_rewards: dict[str, float] = defaultdict(float)
    successes: dict[str, int] = defaultdict(int)
    reward_sums: dict[str, float] = defaultdict(float)
    islands: dict[int, dict[str, Any]] = {}
    status_counts: dict[str, int] = defaultdict(int)
    iterations = 0
    evaluations = 0
    programs = 0
    best_score: float | None = None
    initial_score: float | None = None
    eval_time = 0.0
    exact_duplicates = 0
    near_duplicates = 0
    spans = read_spans(db.get_state(SPANS_STATE))
    clock = RunningClock()
    clock.update(spans)
    for step in db.steps():
        program = step.program
        programs += 1
        clock.at(program.created_at)
        if program.rejection is RejectionKind.DUPLICATE:
            exact_duplicates += 1
        elif program.rejection is RejectionKind.NEAR_DUPLICATE:
            near_duplicates += 1
        if step.evaluated:
            evaluations += 1
            eval_time += program.eval_time_s
        if program.seq == 0:
            initial_score = program.score
            for number in range(_island_count(db)):  # the seed enters every island
                islands[number] = {"island": number, "children": 0, "best_score": program.score}
        else:
            iterations += 1
            status_counts[program.status.value] += 1
            uses[program.operator] += 1
            reward = step.reward or 0.0
            reward_sums[program.operator] += reward
            if reward > 0:
                successes[program.operator] += 1
            source = program.parent_source or "unrecorded"
            source_uses[source] += 1
            source_rewards[source] += reward
            if reward > 0:
                source_successes[source] += 1
            island = islands.setdefault(
                program.island, {"island": program.island, "children": 0, "best_score": None}
            )
            island["children"] += 1
            if program.score is not None and (
                island["best_score"] is None or program.score > island["best_score"]
            ):
                island["best_score"] = program.score
        if program.score is not None and (best_score is None or program.score > best_score):
            best_score = program.score
    operators = {
        name: {
            "uses": uses[name],
            "successes": successes[name],
            "success_rate": successes[name] / uses[name] if uses[name] else 0.0,
            "mean_reward": reward_sums[name] / uses[name] if uses[name] else 0.0,
        }
        for name in sorted(uses)
    }
    parent_sources = {
        name: {
            "uses": source_uses[name],
            "successes": source_successes[name],
            "success_rate": source_successes[name] / source_uses[name],
            "mean_reward": source_rewards[name] / source_uses[name],
        }
        for name in sorted(source_uses)
    }
    stagnation = [
        {"kind": event.kind, "seq": event.seq, **event.payload}
        for event in db.events()
        if event.kind in ("anneal", "island_restart")
    ]
    simplified = db.events("best_simplified")
    failures = {status: count for status, count in sorted(status_counts.items()) if status != "ok"}
    llm = db.llm_usage()
    splits = splits_summary(db)
    return {
        "problem": db.get_meta("problem_name"),
        "isolation": db.get_meta("isolation") or "shared-process",
        "iterations": iterations,
        "evaluations": evaluations,
        "programs": programs,
        "best_score": best_score,
        "initial_score": initial_score,
        "failures": failures,
        "statuses": dict(sorted(status_counts.items())),
        "operators": operators,
        "parent_sources": parent_sources,
        "stagnation_events": stagnation,
        "best_simplified": simplified[-1].payload if simplified else None,
        "islands": [islands[key] for key in sorted(islands)],
        "migrations": len(db.events("migration")),
        "evaluation_seconds": eval_time,
        "running_seconds": clock.total() if programs else 0.0,
        "invocations": len(spans),
        "budget_iterations": db.get_state("budget_iterations"),
        "budget_evaluations": db.get_state("budget_evaluations"),
        "stop_reason": db.get_state("stop_reason"),
        "llm": llm,
        "novelty": {
            "exact_duplicates": exact_duplicates,
            "near_duplicates": near_duplicates,
            "embedding_fallbacks": [event.payload for event in db.events("novelty_fallback")],
        },
        "splits": splits,
        "final_choice_pending": _final_choice_pending(db, splits),
        "prompt_learning": summarise_prompt_learning(db.get_state("prompt_learning")),
        "llm_answers": answers_summary(db),
    }


def _stored_section(db: RunDatabase, name: str) -> dict[str, Any]:
    """One section of the run's stored configuration (empty when it is not readable)."""
    try:
        section = json.loads(db.get_meta("config") or "{}").get(name, {})
    except (ValueError, AttributeError):
        return {}
    return section if isinstance(section, dict) else {}


def _island_count(db: RunDatabase) -> int:
    """The run's ``archive.num_islands`` (1 when its configuration is not readable)."""
    number = _stored_section(db, "archive").get("num_islands")
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else 1


def _final_choice_pending(db: RunDatabase, splits: dict[str, Any] | None) -> bool:
    """Whether a run with instance splits stopped before its final choice was made (see
    :func:`evoforge.splits.final_choice_pending`)."""
    return final_choice_pending(
        splits_enabled=_stored_section(db, "splits").get("enabled") is True,
        final_made=splits is not None,
        stop_reason=db.get_state("stop_reason"),
        stop_kind=db.get_state("stop_kind"),
    )


def answers_summary(db: RunDatabase) -> dict[str, Any]:
    """What became of the language models' answers (the ``llm_answer`` events).

    ``answers``: children that got an answer; ``outcomes``: applied / unparseable /
    ambiguous / not_applied; ``match``: applied diffs by their most lenient match kind;
    ``corrections``: correction prompts sent, and how many gave a usable answer;
    ``failed_share``: the share of answers that failed to parse or apply.
    """
    outcomes: dict[str, int] = defaultdict(int)
    match: dict[str, int] = defaultdict(int)
    corrections = {"sent": 0, "succeeded": 0}
    answers = 0
    for event in db.events("llm_answer"):
        answers += 1
        outcomes[str(event.payload.get("outcome", "unknown"))] += 1
        if "match" in event.payload:
            match[str(event.payload["match"])] += 1
        correction = event.payload.get("correction")
        if correction is not None:
            corrections["sent"] += 1
            corrections["succeeded"] += int(correction == "succeeded")
    failed = answers - outcomes.get("applied", 0)
    return {
        "answers": answers,
        "outcomes": dict(sorted(outcomes.items())),
        "match": {kind: match[kind] for kind in _MATCH_ORDER if match.get(kind)},
        "corrections": corrections,
        "failed_share": failed / answers if answers else None,
    }


_MATCH_ORDER = ("exact", "whitespace", "indent", "fuzzy")


def _difference(new: float | None, old: float | None) -> float | None:
    """``new - old``; ``None`` when either is ``None`` or the difference overflows."""
    if new is None or old is None:
        return None
    difference = new - old
    return difference if math.isfinite(difference) else None
