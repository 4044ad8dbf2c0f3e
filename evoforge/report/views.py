"""What the run viewers show, as plain data: one function per view.

Each function reads a run through a :class:`RunReader` (read-only) and returns
JSON-serialisable data; the web view serves it as its API, the HTML report embeds it and
the CLI prints parts of it. Non-finite numbers never appear (they become ``None``).
Curves are thinned to a few hundred points so that a 20,000-program run answers as
quickly as a small one.
"""

from __future__ import annotations

import difflib
import json
import threading
from typing import Any

from evoforge.report.reader import RunReader
from evoforge.report.tracker import RunTracker, finite

OUTPUT_TAIL_CHARS = 4000
MAX_PROGRAMS_LISTED = 500  # the most programs one listing answers
"""How much of stdout/stderr a program view shows (the end: where errors are)."""


def overview(reader: RunReader) -> dict[str, Any]:
    """Everything the overview page shows (see :meth:`RunTracker.overview`)."""
    return RunTracker(reader).overview()


def run_label(reader: RunReader) -> str:
    """A short human name for the run: its directory's name."""
    return reader.label


def _program_row(reader: RunReader, program_id: str) -> dict[str, Any] | None:
    with reader.locked() as conn:
        cursor = conn.execute("SELECT * FROM programs WHERE id = ?", (program_id,))
        columns = [d[0] for d in cursor.description]
        row = cursor.fetchone()
    return None if row is None else dict(zip(columns, row, strict=True))


def _tail(text: str, limit: int = OUTPUT_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def gain(score: float | None, previous: float | None) -> float | None:
    """``score - previous``; ``None`` when either is ``None`` or the difference is not
    finite (two scores near the largest floats, of opposite signs, overflow)."""
    return None if score is None or previous is None else finite(score - previous)


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
    parent_score = None if parent is None else finite(parent["score"])
    score = finite(row["score"])
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
        "gain": gain(score, parent_score),
        "metrics": {k: finite(v) for k, v in json.loads(row["metrics"]).items()},
        "features": {k: finite(v) for k, v in json.loads(row["features"]).items()},
        "artifacts": artifacts,
        "eval_time_s": row["eval_time_s"],
        "evaluated": bool(row["evaluated"]),
        "outcome": row["outcome_status"],
        "improvement": finite(row["outcome_improvement"]),
        "reward": finite(row["reward"]),
        "code": row["code"],
        "diff": diff,
        "llm_calls": calls,
    }


# A program and its ancestors, nearest first, in one query (a deep lineage is hundreds of
# rows). ``depth`` orders them and bounds a loop of parents by the largest seq, which no
# lineage without a loop exceeds.
_ANCESTRY = """
WITH RECURSIVE line(depth, id, parent_id, operator, score, iteration, status, island) AS (
    SELECT 0, id, parent_id, operator, score, iteration, status, island
    FROM programs WHERE id = ?
    UNION ALL
    SELECT line.depth + 1, p.id, p.parent_id, p.operator, p.score, p.iteration, p.status,
           p.island
    FROM programs AS p JOIN line ON p.id = line.parent_id
    WHERE line.depth <= (SELECT COALESCE(MAX(seq), 0) FROM programs)
)
SELECT id, parent_id, operator, score, iteration, status, island FROM line ORDER BY depth
"""


def lineage(reader: RunReader, program_id: str | None = None) -> dict[str, Any] | None:
    """The ancestry of ``program_id`` (default: the best program), seed first.

    Each node: ``id``, ``operator`` (the edge from its parent), ``score``, ``gain`` over
    its parent (``None`` where either is unscored), ``improved`` (its score is above
    every earlier score on the line: the best so far along the line rose here; false for
    the seed, which starts the line, and for an unscored node), ``iteration``, ``status``.
    A node's fields depend on its ancestors only, so they are the same in every lineage
    that holds it. ``None`` when the program does not exist.
    """
    if program_id is None:
        best = reader.one(
            "SELECT id FROM programs WHERE status = 'ok' AND score IS NOT NULL "
            "ORDER BY score DESC, operator = 'simplify' DESC, seq ASC LIMIT 1"
        )
        if best is None:
            return None
        program_id = str(best[0])
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in reader.rows(_ANCESTRY, (program_id,)):  # the program first, then its parents
        if row[0] in seen:  # a loop of parents (a damaged or hostile database) ends here
            break
        seen.add(row[0])
        chain.append(
            {
                "id": row[0],
                "parent_id": row[1],
                "operator": row[2],
                "score": finite(row[3]),
                "iteration": row[4],
                "status": row[5],
                "island": row[6],
            }
        )
    if not chain:
        return None
    chain.reverse()
    previous: float | None = None
    record: float | None = None  # the best score so far along the line
    for index, node in enumerate(chain):
        score = node["score"]
        node["gain"] = gain(score, previous)
        raised = score is not None and (record is None or score > record)
        node["improved"] = index > 0 and raised
        if raised:
            record = score
        previous = score
    return {"program_id": program_id, "nodes": chain}


def operators(reader: RunReader) -> dict[str, Any]:
    """Operator statistics and bandit choice probabilities (see :meth:`RunTracker.operators`)."""
    return RunTracker(reader).operators()


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


PROGRAM_ORDERS = ("newest", "best")
"""How a program listing is ordered: ``newest`` first (by ``seq``), or ``best`` first (by
score, ties newest first; only programs with a score)."""


class ListingError(ValueError):
    """A program listing's cursor that names no program it could follow."""


def programs(
    reader: RunReader,
    *,
    status: str | None = None,
    operator: str | None = None,
    limit: int = 50,
    before: int | None = None,
    after: int | None = None,
    order: str = "newest",
) -> list[dict[str, Any]]:
    """Programs (optionally of one status and one operator), in ``order`` (see
    :data:`PROGRAM_ORDERS`), without code; at most :data:`MAX_PROGRAMS_LISTED`.

    A page is keyed by a row's ``seq`` (rows never change once written): ``before``, the
    programs listed after that program (pass the last row's ``seq`` for the next page);
    ``after``, those listed before it (the first row's ``seq``: the previous page), still
    in ``order``. A page so keyed stays the same while the run adds programs. Each page is
    one query that never sorts the matching rows: ``newest`` walks the table's key,
    ``best`` the score index, each from the cursor, checking the filters on the way (so a
    rare status or operator costs the rows it passes, no index of its own: every index
    on ``programs`` costs each program's insert); a ``best`` page keyed by a program
    first reads that program's score.

    Raises :class:`ListingError` for a ``best`` cursor that names no scored program.
    """
    if order not in PROGRAM_ORDERS:
        raise ListingError(f"order must be one of {', '.join(PROGRAM_ORDERS)}")
    if before is not None and after is not None:
        raise ListingError("give before or after, not both")
    clauses: list[str] = []
    params: list[str | int | float] = []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if operator:
        clauses.append("operator = ?")
        params.append(operator)
    cursor = before if before is not None else after
    backwards = after is not None  # read toward the head of the order, then reverse
    if order == "newest":
        if cursor is not None:
            clauses.append("seq > ?" if backwards else "seq < ?")
            params.append(cursor)
        sort = "seq ASC" if backwards else "seq DESC"
    else:
        clauses.append("score IS NOT NULL")
        if cursor is not None:
            found = reader.one("SELECT score FROM programs WHERE seq = ?", (cursor,))
            if found is None or finite(found[0]) is None:
                which = "after" if backwards else "before"
                raise ListingError(
                    f"{which} must be the seq of a program with a score (order=best)"
                )
            clauses.append("(score, seq) > (?, ?)" if backwards else "(score, seq) < (?, ?)")
            params += [found[0], cursor]
        sort = "score ASC, seq ASC" if backwards else "score DESC, seq DESC"
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = reader.rows(
        "SELECT id, iteration, operator, island, status, score, reason, seq FROM programs "
        f"{where}ORDER BY {sort} LIMIT ?",
        (*params, max(1, min(limit, MAX_PROGRAMS_LISTED))),
    )
    if backwards:
        rows.reverse()
    return [
        {
            "id": r[0],
            "seq": r[7],
            "iteration": r[1],
            "operator": r[2],
            "island": r[3],
            "status": r[4],
            "score": finite(r[5]),
            "reason": r[6].splitlines()[-1] if r[6] else "",
        }
        for r in rows
    ]


def program_counts(reader: RunReader) -> dict[str, Any]:
    """How many programs the run holds, by status and operator: ``total``, and ``counts``,
    one ``{"status", "operator", "programs", "scored"}`` per pair that occurs, in order of
    status then operator (``scored``: those with a score, what a ``best`` listing can
    show). The program browser labels its filters with these and says how many programs
    match. One pass over the table; :class:`ProgramCounter` keeps the answer up to date
    by counting only what was written since."""
    return ProgramCounter(reader).counts()


class ProgramCounter:
    """:func:`program_counts` of one run, each call counting only the programs written
    since the one before (a program's row never changes once written, and ``seq`` grows
    with every write), so a run of a million programs costs a poll what its new ones do.
    Thread-safe."""

    def __init__(self, reader: RunReader) -> None:
        self._reader = reader
        self._last_seq = -1
        self._tally: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()

    def counts(self) -> dict[str, Any]:
        """The answer of :func:`program_counts` as the run stands now."""
        with self._lock:
            rows = self._reader.rows(
                "SELECT status, operator, COUNT(*), COUNT(score), MAX(seq) FROM programs "
                "WHERE seq > ? GROUP BY status, operator",
                (self._last_seq,),
            )
            for status, operator, programs, scored, last in rows:
                entry = self._tally.setdefault((status, operator), [0, 0])
                entry[0] += programs
                entry[1] += scored
                self._last_seq = max(self._last_seq, last)
            counts = [
                {"status": status, "operator": operator, "programs": n, "scored": scored}
                for (status, operator), (n, scored) in sorted(self._tally.items())
            ]
        return {"total": sum(row["programs"] for row in counts), "counts": counts}
