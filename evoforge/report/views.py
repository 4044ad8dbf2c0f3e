"""What the run viewers show, as plain data: one function per view.

Each function reads a run through a :class:`RunReader` (read-only) and returns
JSON-serialisable data; the web view serves it as its API, the HTML report embeds it and
the CLI prints parts of it. Non-finite numbers never appear (they become ``None``).
Curves are thinned to at most :data:`MAX_POINTS` points so that a 20,000-program run
answers as quickly as a small one.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import defaultdict
from typing import Any

import numpy as np

from evoforge.config import BanditConfig
from evoforge.report.reader import RunReader
from evoforge.report.reasons import top_reasons
from evoforge.selection.bandits import make_bandit

MAX_POINTS = 400
"""Largest number of points in one curve (the improvements are always kept)."""

OUTPUT_TAIL_CHARS = 4000
"""How much of stdout/stderr a program view shows (the end: where errors are)."""

_OPERATOR_BUCKETS = 20
_PROBABILITY_DRAWS = 2000


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _thin(points: list[list[Any]], keep: set[int]) -> list[list[Any]]:
    """At most about MAX_POINTS of ``points``: every ``keep`` index, the last, an even spread."""
    if len(points) <= MAX_POINTS:
        return points
    stride = math.ceil(len(points) / MAX_POINTS)
    return [p for i, p in enumerate(points) if i in keep or i % stride == 0 or i == len(points) - 1]


def overview(reader: RunReader) -> dict[str, Any]:
    """Everything the overview page shows.

    ``best_curve``: ``[evaluations, seconds since start, best score]`` after every step
    (thinned); ``island_curves``: the same per island; ``rate_curve``: ``[seconds,
    evaluations per second]`` per time bucket; ``failures``: counts by status (children
    only); ``reasons``: see :func:`evoforge.report.reasons.top_reasons`; ``budgets``:
    ``{name: {"used", "limit"}}`` for iterations, evaluations, tokens, cost, wall time.
    """
    config = reader.config()
    with reader.locked() as conn:
        rows = conn.execute(
            "SELECT seq, island, evaluated, status, score, created_at FROM programs ORDER BY seq"
        ).fetchall()
        best_row = conn.execute(
            "SELECT id, score FROM programs WHERE status = 'ok' AND score IS NOT NULL "
            "ORDER BY score DESC, seq ASC LIMIT 1"
        ).fetchone()
        usage = (
            conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens_in + tokens_out), 0), "
                "COALESCE(SUM(cost), 0) FROM llm_calls"
            ).fetchone()
            if reader.has_llm_calls
            else (0, 0, 0.0)
        )
    num_islands = int(config.get("archive", {}).get("num_islands", 1))
    start = float(rows[0][5]) if rows else 0.0
    last = float(rows[-1][5]) if rows else 0.0
    evaluations = 0
    best: float | None = None
    best_curve: list[list[Any]] = []
    improvements: set[int] = set()
    island_best: dict[int, float] = {}
    island_curves: dict[int, list[list[Any]]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    seed_score: float | None = None
    for seq, island, evaluated, status, score, created_at in rows:
        evaluations += int(evaluated)
        elapsed = round(float(created_at) - start, 3)
        value = _finite(score) if status == "ok" else None
        if seq == 0:
            seed_score = value
        elif status != "ok":
            failures[status] += 1
        if value is not None and (best is None or value > best):
            best = value
            improvements.add(len(best_curve))
        best_curve.append([evaluations, elapsed, best])
        if value is not None:
            targets = range(num_islands) if seq == 0 else [island]
            for target in targets:
                if target not in island_best or value > island_best[target]:
                    island_best[target] = value
                    island_curves[target].append([evaluations, elapsed, value])
    for target, curve in island_curves.items():
        if curve and best_curve:
            curve.append([evaluations, round(last - start, 3), island_best[target]])
    duration = max(last - start, 0.0)
    run_config = config.get("run", {})
    llm_config = config.get("llm", {})
    iterations = max(0, len(rows) - 1)
    budget_iterations = reader.state("budget_iterations") or run_config.get("iterations")
    return {
        "run": run_label(reader),
        "problem": reader.meta("problem_name"),
        "programs": len(rows),
        "iterations": iterations,
        "evaluations": evaluations,
        "best_score": None if best_row is None else _finite(best_row[1]),
        "best_id": None if best_row is None else str(best_row[0]),
        "initial_score": seed_score,
        "duration_s": round(duration, 3),
        "evaluations_per_s": round(evaluations / duration, 3) if duration > 0 else None,
        "stop_reason": reader.state("stop_reason"),
        "failures": dict(sorted(failures.items())),
        "reasons": top_reasons(reader),
        "budgets": {
            "iterations": {"used": iterations, "limit": budget_iterations},
            "evaluations": {"used": evaluations, "limit": run_config.get("max_evaluations")},
            "tokens": {"used": int(usage[1]), "limit": llm_config.get("max_total_tokens")},
            "cost": {"used": float(usage[2]), "limit": llm_config.get("max_cost")},
            "wall_time_s": {
                "used": round(duration, 1),
                "limit": run_config.get("max_wall_time_s"),
            },
        },
        "llm_calls": int(usage[0]),
        "best_curve": _thin(best_curve, improvements),
        "island_curves": {
            str(island): _thin(curve, set()) for island, curve in sorted(island_curves.items())
        },
        "rate_curve": _rate_curve(rows, start, duration),
    }


def _rate_curve(rows: list[Any], start: float, duration: float) -> list[list[float]]:
    """Evaluations per second in up to 40 equal time buckets."""
    if duration <= 0:
        return []
    buckets = min(40, max(1, len(rows) // 5))
    width = duration / buckets
    counts = [0] * buckets
    for _, _, evaluated, _, _, created_at in rows:
        if evaluated:
            index = min(buckets - 1, int((float(created_at) - start) / width))
            counts[index] += 1
    return [[round((i + 0.5) * width, 3), round(c / width, 3)] for i, c in enumerate(counts)]


def run_label(reader: RunReader) -> str:
    """A short human name for the run: its directory's name."""
    return reader.run_dir.resolve().name


def _program_row(reader: RunReader, program_id: str) -> dict[str, Any] | None:
    with reader.locked() as conn:
        cursor = conn.execute("SELECT * FROM programs WHERE id = ?", (program_id,))
        columns = [d[0] for d in cursor.description]
        row = cursor.fetchone()
    return None if row is None else dict(zip(columns, row, strict=True))


def _tail(text: str, limit: int = OUTPUT_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def program(reader: RunReader, program_id: str) -> dict[str, Any] | None:
    """One program: code, unified diff against its parent, metrics, artifacts (stdout and
    stderr as tails), status and reason, operator, outcome, and the language-model
    requests made for it (prompt and answer). ``None`` when no such program exists."""
    row = _program_row(reader, program_id)
    if row is None:
        return None
    parent = None if row["parent_id"] is None else _program_row(reader, row["parent_id"])
    diff = ""
    if parent is not None:
        diff = "".join(
            difflib.unified_diff(
                parent["code"].splitlines(keepends=True),
                row["code"].splitlines(keepends=True),
                fromfile=str(parent["id"]),
                tofile=str(row["id"]),
            )
        )
    artifacts = {str(name): _tail(str(text)) for name, text in json.loads(row["artifacts"]).items()}
    calls = []
    if reader.has_llm_calls:
        for call in reader.rows(
            "SELECT model, operator, prompt, response, tokens_in, tokens_out, latency_s, cost, "
            "outcome, error, attempt FROM llm_calls WHERE seq = ? ORDER BY id",
            (int(row["seq"]),),
        ):
            calls.append(
                dict(
                    zip(
                        (
                            "model",
                            "operator",
                            "prompt",
                            "response",
                            "tokens_in",
                            "tokens_out",
                            "latency_s",
                            "cost",
                            "outcome",
                            "error",
                            "attempt",
                        ),
                        call,
                        strict=True,
                    )
                )
            )
    parent_score = None if parent is None else _finite(parent["score"])
    score = _finite(row["score"])
    return {
        "id": row["id"],
        "seq": row["seq"],
        "iteration": row["iteration"],
        "parent_id": row["parent_id"],
        "inspiration_ids": json.loads(row["inspiration_ids"]),
        "operator": row["operator"],
        "island": row["island"],
        "generation": row["generation"],
        "status": row["status"],
        "reason": row["reason"],
        "score": score,
        "parent_score": parent_score,
        "gain": None if score is None or parent_score is None else score - parent_score,
        "metrics": {k: _finite(v) for k, v in json.loads(row["metrics"]).items()},
        "features": {k: _finite(v) for k, v in json.loads(row["features"]).items()},
        "artifacts": artifacts,
        "eval_time_s": row["eval_time_s"],
        "evaluated": bool(row["evaluated"]),
        "outcome": row["outcome_status"],
        "improvement": _finite(row["outcome_improvement"]),
        "reward": _finite(row["reward"]),
        "code": row["code"],
        "diff": diff,
        "llm_calls": calls,
    }


def lineage(reader: RunReader, program_id: str | None = None) -> dict[str, Any] | None:
    """The ancestry of ``program_id`` (default: the best program), seed first.

    Each node: ``id``, ``operator`` (the edge from its parent), ``score``, ``gain`` over
    its parent (``None`` where either is unscored), ``iteration``, ``status``. ``None``
    when the program does not exist.
    """
    if program_id is None:
        best = reader.one(
            "SELECT id FROM programs WHERE status = 'ok' AND score IS NOT NULL "
            "ORDER BY score DESC, seq ASC LIMIT 1"
        )
        if best is None:
            return None
        program_id = str(best[0])
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    cursor: str | None = program_id
    while cursor is not None and cursor not in seen:
        seen.add(cursor)
        row = reader.one(
            "SELECT id, parent_id, operator, score, iteration, status, island FROM programs "
            "WHERE id = ?",
            (cursor,),
        )
        if row is None:
            break
        chain.append(
            {
                "id": row[0],
                "parent_id": row[1],
                "operator": row[2],
                "score": _finite(row[3]),
                "iteration": row[4],
                "status": row[5],
                "island": row[6],
            }
        )
        cursor = row[1]
    if not chain:
        return None
    chain.reverse()
    previous: float | None = None
    for node in chain:
        score = node["score"]
        node["gain"] = None if score is None or previous is None else score - previous
        previous = score
    return {"program_id": program_id, "nodes": chain}


def operators(reader: RunReader) -> dict[str, Any]:
    """Per operator: uses, successes (reward > 0), success rate, mean reward, the mean
    reward per iteration bucket (reward over time), and the bandit's current choice
    probabilities (estimated by drawing from the stored policy state with a fixed seed;
    exact for deterministic policies)."""
    rows = reader.rows(
        "SELECT iteration, operator, COALESCE(reward, 0) FROM programs WHERE seq > 0 ORDER BY seq"
    )
    last_iteration = max((int(r[0]) for r in rows), default=0)
    width = max(1, math.ceil((last_iteration + 1) / _OPERATOR_BUCKETS))
    stats: dict[str, dict[str, Any]] = {}
    for iteration, name, reward in rows:
        entry = stats.setdefault(
            name, {"uses": 0, "successes": 0, "reward": 0.0, "buckets": defaultdict(list)}
        )
        entry["uses"] += 1
        entry["successes"] += reward > 0
        entry["reward"] += float(reward)
        entry["buckets"][int(iteration) // width].append(float(reward))
    result = {}
    for name in sorted(stats):
        entry = stats[name]
        result[name] = {
            "uses": entry["uses"],
            "successes": entry["successes"],
            "success_rate": entry["successes"] / entry["uses"],
            "mean_reward": entry["reward"] / entry["uses"],
            "reward_curve": [
                [bucket * width, sum(values) / len(values)]
                for bucket, values in sorted(entry["buckets"].items())
            ],
        }
    config = reader.config()
    bandit_state = reader.state("bandit")
    return {
        "operators": result,
        "policy": None if bandit_state is None else bandit_state.get("policy"),
        "probabilities": _choice_probabilities(bandit_state, config.get("bandit")),
    }


def _choice_probabilities(state: Any, config: Any) -> dict[str, float]:
    if not isinstance(state, dict) or "arms" not in state:
        return {}
    try:
        bandit = make_bandit(list(state["arms"]), BanditConfig.model_validate(config or {}))
        bandit.load_state(state)
    except (ValueError, KeyError, TypeError):
        return {}
    rng = np.random.default_rng(0)
    counts = dict.fromkeys(bandit.arms, 0)
    for _ in range(_PROBABILITY_DRAWS):
        counts[bandit.select(rng)] += 1
    return {arm: count / _PROBABILITY_DRAWS for arm, count in counts.items()}


def models(reader: RunReader) -> dict[str, Any]:
    """Per model: calls, tokens in/out, cost, mean and worst latency, outcomes, failures."""
    if not reader.has_llm_calls:
        return {"models": {}, "calls": 0}
    rows = reader.rows(
        "SELECT model, outcome, COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost), "
        "SUM(latency_s), MAX(latency_s) FROM llm_calls GROUP BY model, outcome "
        "ORDER BY model, outcome"
    )
    per_model: dict[str, dict[str, Any]] = {}
    total = 0
    for model, outcome, calls, tokens_in, tokens_out, cost, latency, worst in rows:
        entry = per_model.setdefault(
            model,
            {
                "calls": 0,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost": 0.0,
                "latency_s": 0.0,
                "max_latency_s": 0.0,
                "outcomes": {},
                "failures": 0,
            },
        )
        entry["calls"] += int(calls)
        entry["tokens_in"] += int(tokens_in or 0)
        entry["tokens_out"] += int(tokens_out or 0)
        entry["cost"] += float(cost or 0.0)
        entry["latency_s"] += float(latency or 0.0)
        entry["max_latency_s"] = max(entry["max_latency_s"], float(worst or 0.0))
        entry["outcomes"][outcome] = int(calls)
        if outcome != "ok":
            entry["failures"] += int(calls)
        total += int(calls)
    for entry in per_model.values():
        entry["mean_latency_s"] = entry.pop("latency_s") / entry["calls"]
    return {"models": per_model, "calls": total}


def programs(
    reader: RunReader, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The most recent programs (optionally of one status), newest first, without code."""
    where, params = ("WHERE status = ?", (status,)) if status else ("", ())
    rows = reader.rows(
        "SELECT id, iteration, operator, island, status, score, reason FROM programs "
        f"{where} ORDER BY seq DESC LIMIT ?",
        (*params, max(1, min(limit, 500))),
    )
    return [
        {
            "id": r[0],
            "iteration": r[1],
            "operator": r[2],
            "island": r[3],
            "status": r[4],
            "score": _finite(r[5]),
            "reason": r[6].splitlines()[-1] if r[6] else "",
        }
        for r in rows
    ]
