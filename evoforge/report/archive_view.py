"""The archive of a run as it stands now, rebuilt from the database for display.

The engine never stores its grids: it rebuilds them on open by replaying the committed
inserts and migrations. :class:`ArchiveReplay` does the same replay read-only (the seed
enters every island; a child enters its island when it has an insert outcome with a cell;
migrations re-insert the moved program), and keeps its place, so a live view only replays
the steps committed since it last looked.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from evoforge.archive.islands import Archive
from evoforge.config import Config, validate_config
from evoforge.program import EvalStatus, Program
from evoforge.report.reader import RunReader

_COLUMNS = (
    "seq, id, code_hash, iteration, parent_id, operator, island, generation, status, score, "
    "features, outcome_cell, created_at"
)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _program(row: tuple[Any, ...]) -> Program:
    """A lightweight record for the grid: no code, metrics or artifacts (not needed)."""
    return Program(
        id=row[1],
        code="",
        code_hash=row[2],
        seq=int(row[0]),
        iteration=int(row[3]),
        parent_id=row[4],
        operator=row[5],
        island=int(row[6]),
        generation=int(row[7]),
        status=EvalStatus(row[8]),
        score=row[9],
        features=json.loads(row[10]),
        created_at=float(row[12]),
    )


class ArchiveReplay:
    """The run's islands, replayed incrementally from a :class:`RunReader`."""

    def __init__(self, reader: RunReader) -> None:
        self._reader = reader
        stored = reader.config()
        self.config: Config = (
            validate_config(stored, "stored config", unregistered_parts=True)
            if stored
            else Config()
        )
        self._archive = Archive(self.config.archive)
        self._next_seq = 0
        self._lock = threading.Lock()

    def _catch_up(self) -> None:
        """Replay the steps committed since the last call, all read in one snapshot of the
        database (a step committed between separate reads would be skipped for good)."""
        with self._reader.locked() as conn:
            last_seq = int(
                conn.execute("SELECT COALESCE(MAX(seq), -1) FROM programs").fetchone()[0]
            )
            rows = list(
                conn.execute(
                    f"SELECT {_COLUMNS} FROM programs WHERE seq BETWEEN ? AND ? "
                    "AND outcome_status IS NOT NULL ORDER BY seq",
                    (self._next_seq, last_seq),
                )
            )
            migrations = list(
                conn.execute(
                    "SELECT seq, payload FROM events WHERE kind = 'migration' "
                    "AND seq BETWEEN ? AND ? ORDER BY id",
                    (self._next_seq, last_seq),
                )
            )
        moves: dict[int, list[dict[str, Any]]] = {}
        for seq, payload in migrations:
            moves.setdefault(int(seq), []).extend(json.loads(payload).get("moves", []))
        # a migration event may belong to a step without an outcome: visit both in seq order
        order = sorted({int(row[0]) for row in rows} | set(moves))
        by_seq = {int(row[0]): row for row in rows}
        for seq in order:
            row = by_seq.get(seq)
            if row is not None and row[9] is not None:
                program = _program(row)
                if seq == 0:
                    for island in range(self._archive.num_islands):
                        self._archive.insert(program, island)
                elif json.loads(row[11] or "[]"):
                    self._archive.insert(program, program.island)
            for move in moves.get(seq, []):
                moved = self._archive.programs_by_id.get(move["program_id"])
                if moved is not None:
                    self._archive.insert(moved, int(move["to"]))
        self._next_seq = max(self._next_seq, last_seq + 1)

    def islands(self) -> list[dict[str, Any]]:
        """Every island's grid: feature names, shape, ranges and occupied cells.

        Each cell is ``{"cell": [i, j, ...], "program_id", "score", "features"}``;
        ``occupied`` is the number of cells, ``capacity`` the grid's size.
        """
        with self._lock:
            self._catch_up()
            result = []
            summary = self._archive.summary()
            for island in range(self._archive.num_islands):
                grid = self._archive.grid(island)
                ranges = grid.ranges()
                result.append(
                    {
                        "island": island,
                        "features": list(grid.feature_names),
                        "shape": list(grid.shape),
                        "ranges": {
                            name: None if bounds is None else list(bounds)
                            for name, bounds in ranges.items()
                        },
                        "occupied": len(grid),
                        "capacity": grid.capacity,
                        "best_id": summary[island]["best_id"],
                        "best_score": summary[island]["best_score"],
                        "cells": [
                            {
                                "cell": list(cell),
                                "program_id": program.id,
                                "score": program.score,
                                "features": {
                                    name: _finite(value) for name, value in program.features.items()
                                },
                            }
                            for cell, program in grid.entries()
                        ],
                    }
                )
            return result
