"""Run-wide statistics kept up to date incrementally, for viewers that poll a live run.

Committed programs never change and arrive in ``seq`` order, so the overview's curves and
counts, the operators' statistics and the failure reasons can be folded in step by step:
:class:`RunTracker` remembers the last ``seq`` it saw and each :meth:`RunTracker.catch_up`
reads only the programs committed since. A poll after one new step costs one small
query, however long the run.
"""

from __future__ import annotations

import json
import math
import shlex
import threading
from collections import defaultdict
from typing import Any

import numpy as np

from evoforge.config import BanditConfig
from evoforge.report.reader import RunReader
from evoforge.report.reasons import REJECTED, reason_kind, reason_line
from evoforge.running_time import SPANS_STATE, RunningClock, read_spans
from evoforge.selection.bandits import make_bandit
from evoforge.splits import (
    FINAL_STATE,
    FinalChoice,
    final_choice_outdated,
    final_choice_pending,
)
from evoforge.storage.db import storable_text

MAX_POINTS = 400
"""Largest number of points in one curve (every improvement of the best is kept)."""

_OPERATOR_BUCKETS = 20
_RATE_BUCKETS = 40
_THOMPSON_DRAWS = 1000
_REASONS_SHOWN = 10


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _json_or_none(text: str) -> Any:
    """Stored JSON as data, ``None`` when it does not parse."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _final_choice(stored: Any, last_seq: int) -> dict[str, Any] | None:
    """The stored final choice (:class:`evoforge.splits.FinalChoice`) as plain data, its
    non-finite numbers as ``None``, with ``outdated`` (the search went on after it: the
    run's programs now end at ``last_seq``); ``None`` when none is stored or it is
    unreadable."""
    if not isinstance(stored, dict):
        return None
    try:
        choice = FinalChoice.from_dict(stored)
    except (TypeError, ValueError):
        return None
    final = {key: finite(v) if isinstance(v, float) else v for key, v in choice.to_dict().items()}
    return {**final, "outdated": final_choice_outdated(choice, last_seq)}


def _thin(points: list[list[Any]], keep: set[int]) -> list[list[Any]]:
    """At most about MAX_POINTS of ``points`` (plus ``keep``): an even spread and the last."""
    if len(points) <= MAX_POINTS:
        return [list(p) for p in points]
    stride = math.ceil(len(points) / MAX_POINTS)
    last = len(points) - 1
    return [list(p) for i, p in enumerate(points) if i % stride == 0 or i in keep or i == last]


class RunTracker:
    """Overview, operator and reason statistics of one run, updated from new steps only.

    Thread-safe: every public method holds the tracker's lock.
    """

    def __init__(self, reader: RunReader) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        config = reader.config()
        self._num_islands = int(config.get("archive", {}).get("num_islands", 1))
        self._run_config: dict[str, Any] = config.get("run", {})
        self._llm_config: dict[str, Any] = config.get("llm", {})
        self._bandit_config: Any = config.get("bandit")
        self._splits_enabled = config.get("splits", {}).get("enabled") is True
        self._next_seq = 0
        self._clock = RunningClock()  # seconds of running, idle time between invocations left out
        self._evaluations = 0
        self._eval_times: list[float] = []
        self._best: float | None = None
        self._seed_score: float | None = None
        self._best_curve: list[tuple[int, float, float | None]] = []
        self._improvements: set[int] = set()
        self._island_best: dict[int, float] = {}
        self._island_curves: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
        self._failures: dict[str, int] = defaultdict(int)
        self._operator_stats: dict[str, list[float]] = {}  # uses, successes, reward sum
        self._operator_rewards: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._last_iteration = 0
        self._reasons: dict[str, dict[str, dict[str, Any]]] = {"failures": {}, "rejections": {}}
        self._kinds: dict[str, str] = {}

    # -- folding in new steps ------------------------------------------------------------

    def catch_up(self) -> None:
        """Fold in every program committed since the last call."""
        with self._lock:
            self._catch_up()

    def _catch_up(self) -> None:
        with self._reader.locked() as conn:
            rows = conn.execute(
                "SELECT seq, iteration, island, evaluated, status, score, created_at, operator, "
                "reward, CASE WHEN status != 'ok' THEN reason END, id FROM programs "
                "WHERE seq >= ? ORDER BY seq",
                (self._next_seq,),
            ).fetchall()
            spans = conn.execute("SELECT value FROM state WHERE key = ?", (SPANS_STATE,)).fetchone()
        self._clock.update(read_spans(None if spans is None else _json_or_none(spans[0])))
        for row in rows:
            self._fold(row)
        if rows:
            self._next_seq = int(rows[-1][0]) + 1

    def _fold(self, row: tuple[Any, ...]) -> None:
        seq, iteration, island, evaluated, status, score, created_at, operator, reward = row[:9]
        elapsed = self._clock.at(float(created_at))
        if evaluated:
            self._evaluations += 1
            self._eval_times.append(elapsed)
        value = finite(score) if status == "ok" else None
        if seq == 0:
            self._seed_score = value
        else:
            if status != "ok":
                self._failures[status] += 1
                self._add_reason(status, row[9] or "", row[10])
            self._last_iteration = max(self._last_iteration, int(iteration))
            paid = float(reward or 0.0)
            stats = self._operator_stats.setdefault(operator, [0.0, 0.0, 0.0])
            stats[0] += 1
            stats[1] += paid > 0
            stats[2] += paid
            self._operator_rewards[operator].append((int(iteration), paid))
        if value is not None and (self._best is None or value > self._best):
            self._best = value
            self._improvements.add(len(self._best_curve))
        self._best_curve.append((self._evaluations, elapsed, self._best))
        if value is not None:
            for target in range(self._num_islands) if seq == 0 else [int(island)]:
                if target not in self._island_best or value > self._island_best[target]:
                    self._island_best[target] = value
                    self._island_curves[target].append((self._evaluations, elapsed, value))

    def _add_reason(self, status: str, reason: str, program_id: str) -> None:
        kind = self._kinds.get(reason)
        if kind is None:
            kind = reason_kind(reason)
            if len(self._kinds) < 100_000:
                self._kinds[reason] = kind
        side = "rejections" if status == REJECTED else "failures"
        entry = self._reasons[side].get(kind)
        if entry is None:
            entry = self._reasons[side][kind] = {
                "reason": kind,
                "count": 0,
                "statuses": {},
                "example_id": program_id,
                "example_reason": reason_line(reason),
            }
        entry["count"] += 1
        entry["statuses"][status] = entry["statuses"].get(status, 0) + 1

    # -- answers ---------------------------------------------------------------------------

    def reasons(self, limit: int = _REASONS_SHOWN) -> dict[str, list[dict[str, Any]]]:
        """The commonest failure and rejection kinds (see :mod:`evoforge.report.reasons`)."""
        with self._lock:
            self._catch_up()
            return self._top_reasons(limit)

    def _top_reasons(self, limit: int) -> dict[str, list[dict[str, Any]]]:
        return {
            side: [
                {**entry, "statuses": dict(sorted(entry["statuses"].items()))}
                for entry in sorted(entries.values(), key=lambda e: (-e["count"], e["reason"]))[
                    :limit
                ]
            ]
            for side, entries in self._reasons.items()
        }

    def overview(self) -> dict[str, Any]:
        """Everything the overview page shows.

        Seconds are seconds of running (:mod:`evoforge.running_time`: the time between a
        run's stop and its resume is left out): ``duration_s`` and ``evaluations_per_s``
        count them. ``best_curve``: ``[evaluations, seconds, best score]`` after every step
        (thinned, improvements kept); ``island_curves``: per island, a point at each
        improvement and one at the end; ``rate_curve``: ``[seconds, evaluations per
        second]`` per time bucket; ``failures``: counts by status (children only);
        ``reasons``: the top failure and rejection kinds; ``budgets``: ``{name: {"used",
        "limit"}}`` for iterations, evaluations, tokens, cost and wall time (the latest
        invocation's: its limit holds for each ``run`` and ``resume``). For a problem with
        instance splits (``splits_enabled``): ``final_choice``, the stored
        :class:`~evoforge.splits.FinalChoice` (``None`` until it is made; ``outdated`` when
        the search went on after it), and
        ``final_choice_pending``, true when the run stopped before making it
        (``resume_command`` makes it).
        """
        with self._lock:
            self._catch_up()
            return self._overview()

    def _overview(self) -> dict[str, Any]:
        reader = self._reader
        best_row = reader.one(
            "SELECT id, score FROM programs WHERE status = 'ok' AND score IS NOT NULL "
            "AND seq < ? ORDER BY score DESC, operator = 'simplify' DESC, seq ASC LIMIT 1",
            (self._next_seq,),
        )
        usage = (
            reader.one(
                "SELECT COUNT(*), COALESCE(SUM(tokens_in + tokens_out), 0), "
                "COALESCE(SUM(cost), 0) FROM llm_calls"
            )
            if reader.has_llm_calls
            else None
        ) or (0, 0, 0.0)
        duration = self._clock.total()
        latest = self._clock.latest()
        programs = len(self._best_curve)
        iterations = max(0, programs - 1)
        island_curves = {}
        for island, curve in sorted(self._island_curves.items()):
            points = [[e, round(t, 3), s] for e, t, s in curve]
            points.append([self._evaluations, round(duration, 3), self._island_best[island]])
            island_curves[str(island)] = _thin(points, set())
        best_curve = [[e, round(t, 3), s] for e, t, s in self._best_curve]
        budget_iterations = reader.state("budget_iterations") or self._run_config.get("iterations")
        stop_reason = reader.state("stop_reason")
        final = _final_choice(reader.state(FINAL_STATE), self._next_seq - 1)
        return {
            "run": reader.label,
            "problem": reader.meta("problem_name"),
            "programs": programs,
            "iterations": iterations,
            "evaluations": self._evaluations,
            "best_score": None if best_row is None else finite(best_row[1]),
            "best_id": None if best_row is None else str(best_row[0]),
            "initial_score": self._seed_score,
            "duration_s": round(duration, 3),
            "evaluations_per_s": (round(self._evaluations / duration, 3) if duration > 0 else None),
            "stop_reason": stop_reason,
            "splits_enabled": self._splits_enabled,
            "final_choice": final,
            "final_choice_pending": final_choice_pending(
                splits_enabled=self._splits_enabled,
                final_made=final is not None,
                stop_reason=stop_reason,
                stop_kind=reader.state("stop_kind"),
            ),
            "resume_command": storable_text(f"evoforge resume {shlex.quote(str(reader.run_dir))}"),
            "failures": dict(sorted(self._failures.items())),
            "reasons": self._top_reasons(_REASONS_SHOWN),
            "budgets": {
                "iterations": {"used": iterations, "limit": budget_iterations},
                "evaluations": {  # a resume --evaluations N moves the run's limit
                    "used": self._evaluations,
                    "limit": reader.state("budget_evaluations")
                    or self._run_config.get("max_evaluations"),
                },
                "tokens": {
                    "used": int(usage[1]),
                    "limit": self._llm_config.get("max_total_tokens"),
                },
                "cost": {"used": float(usage[2]), "limit": self._llm_config.get("max_cost")},
                "wall_time_s": {  # the limit holds for each invocation: the latest one's
                    "used": round(duration if latest is None else latest, 1),
                    "limit": self._run_config.get("max_wall_time_s"),
                },
            },
            "llm_calls": int(usage[0]),
            "best_curve": _thin(best_curve, self._improvements),
            "island_curves": island_curves,
            "rate_curve": self._rate_curve(duration),
        }

    def _rate_curve(self, duration: float) -> list[list[float]]:
        """Evaluations per second in up to 40 equal time buckets."""
        if duration <= 0 or not self._eval_times:
            return []
        buckets = min(_RATE_BUCKETS, max(1, len(self._best_curve) // 5))
        counts, edges = np.histogram(self._eval_times, bins=buckets, range=(0.0, duration))
        width = duration / buckets
        return [
            [round(float(edges[i]) + width / 2, 3), round(float(count) / width, 3)]
            for i, count in enumerate(counts)
        ]

    def operators(self) -> dict[str, Any]:
        """Per operator: uses, successes (reward > 0), success rate, mean reward and the
        mean reward per iteration bucket (reward over time); with the bandit's current
        choice probabilities (exact for UCB1 and EXP3, estimated from draws with a fixed
        seed for Thompson sampling)."""
        with self._lock:
            self._catch_up()
            width = max(1, math.ceil((self._last_iteration + 1) / _OPERATOR_BUCKETS))
            result = {}
            for name in sorted(self._operator_stats):
                uses, successes, total = self._operator_stats[name]
                buckets: dict[int, list[float]] = defaultdict(list)
                for iteration, reward in self._operator_rewards[name]:
                    buckets[iteration // width].append(reward)
                result[name] = {
                    "uses": int(uses),
                    "successes": int(successes),
                    "success_rate": successes / uses,
                    "mean_reward": total / uses,
                    "reward_curve": [
                        [bucket * width, sum(values) / len(values)]
                        for bucket, values in sorted(buckets.items())
                    ],
                }
        state = self._reader.state("bandit")
        return {
            "operators": result,
            "policy": state.get("policy") if isinstance(state, dict) else None,
            "probabilities": choice_probabilities(state, self._bandit_config),
        }


def choice_probabilities(state: Any, config: Any) -> dict[str, float]:
    """How likely the stored bandit is to pick each arm next (empty when unknown)."""
    if not isinstance(state, dict) or "arms" not in state:
        return {}
    try:
        bandit = make_bandit(list(state["arms"]), BanditConfig.model_validate(config or {}))
        bandit.load_state(state)
    except (ValueError, KeyError, TypeError):
        return {}
    exact = getattr(bandit, "probabilities", None)
    if callable(exact):
        return {arm: float(p) for arm, p in zip(bandit.arms, exact(), strict=True)}
    rng = np.random.default_rng(0)
    draws = 1 if bandit.policy == "ucb1" else _THOMPSON_DRAWS  # UCB1 is deterministic
    counts = dict.fromkeys(bandit.arms, 0)
    for _ in range(draws):
        counts[bandit.select(rng)] += 1
    return {arm: count / draws for arm, count in counts.items()}


def top_reasons(reader: RunReader, limit: int = _REASONS_SHOWN) -> dict[str, list[dict[str, Any]]]:
    """The commonest failure kinds (failed, timeout, invalid) and rejection kinds.

    Returns ``{"failures": [...], "rejections": [...]}``, each at most ``limit`` entries
    ``{"reason", "count", "statuses": {status: count}, "example_id", "example_reason"}``,
    most frequent first (ties in reason order); the example is the earliest program of that
    kind, and ``example_reason`` the last line of its reason as written (the kind blanks
    its numbers: ``shape (N, N), got (N, N)`` for ``shape (26, 2), got (25, 2)``). The
    seed never counts.
    """
    return RunTracker(reader).reasons(limit)
