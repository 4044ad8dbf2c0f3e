"""The stagnation monitor on crafted islands: annealing fires when an island's cell
entropy collapses and its best stalls, and not otherwise; a restart follows at the
highest temperature; restarting an island rebuilds its grid from the given elites."""

from __future__ import annotations

import json
import math
import random

import pytest

from evoforge.archive.islands import Archive
from evoforge.archive.stagnation import StagnationMonitor, cell_entropy
from evoforge.config import ArchiveConfig, FeatureConfig, StagnationConfig
from evoforge.program import Program

CONFIG = StagnationConfig(window=8, entropy_threshold=0.5, patience=10, max_temperature=4.0)


def never_leads(island: int) -> bool:
    return False


def feed(monitor: StagnationMonitor, cells: list[tuple[int, int]], score: float = 0.5) -> list:
    actions = []
    for cell in cells:
        action = monitor.observe(0, cell, score, never_leads)
        if action is not None:
            actions.append(action)
    return actions


def test_cell_entropy_is_normalised() -> None:
    assert cell_entropy([(1, 1)] * 8, 8) == 0.0
    assert cell_entropy([(i, 0) for i in range(8)], 8) == pytest.approx(1.0)
    assert cell_entropy([(0, 0)] * 4 + [(1, 0)] * 4, 8) == pytest.approx(math.log(2) / math.log(8))
    assert cell_entropy([], 8) == 0.0


def test_cell_entropy_is_the_formula_to_the_last_bit() -> None:
    """Its terms are tabled per window length: the value must be the formula's exactly
    (a threshold compares it, so a last-bit change could change a run)."""
    draw = random.Random(5)
    for _ in range(300):
        window = draw.randint(2, 40)
        cells = [(draw.randint(0, 3), draw.randint(0, 2)) for _ in range(draw.randint(0, window))]
        counts: dict[tuple[int, int], int] = {}
        for cell in cells:
            counts[cell] = counts.get(cell, 0) + 1
        total = len(cells)
        expected = (
            0.0
            if total < 2
            else -sum((n / total) * math.log(n / total) for n in counts.values()) / math.log(window)
        )
        assert cell_entropy(cells, window) == expected
        assert cell_entropy([list(cell) for cell in cells], window) == expected


def test_annealing_fires_when_entropy_collapses_and_the_best_stalls() -> None:
    monitor = StagnationMonitor(CONFIG, num_islands=2)
    monitor.start(1.0)
    actions = feed(monitor, [(3, 3)] * 10)  # every child in one cell, none better
    assert [a.kind for a in actions] == ["anneal"]
    assert actions[0].island == 0 and actions[0].entropy == 0.0
    assert monitor.temperature(0) == 2.0 and monitor.temperature(1) == 1.0
    # the island gets `patience` more children before the next step
    assert [a.kind for a in feed(monitor, [(3, 3)] * 9)] == []
    assert [a.kind for a in feed(monitor, [(3, 3)])] == ["anneal"]
    assert monitor.temperature(0) == 4.0
    # at the highest temperature a still-stagnant island that does not lead is restarted
    assert [a.kind for a in feed(monitor, [(3, 3)] * 10)] == ["island_restart"]


def test_no_annealing_while_the_island_is_diverse() -> None:
    monitor = StagnationMonitor(CONFIG, num_islands=2)
    monitor.start(1.0)
    cells = [(i % 8, i // 8) for i in range(60)]  # a different cell for every child
    assert feed(monitor, cells) == []
    assert monitor.temperature(0) == 1.0 and monitor.entropy(0) == pytest.approx(1.0)


def test_no_annealing_while_the_best_moves() -> None:
    monitor = StagnationMonitor(CONFIG, num_islands=2)
    monitor.start(0.0)
    actions = []
    for step in range(60):  # one cell, but every child beats the island's best
        action = monitor.observe(0, (3, 3), 1.0 + step, never_leads)
        if action is not None:
            actions.append(action)
    assert actions == [] and monitor.temperature(0) == 1.0


def test_an_improvement_restores_the_pressure_and_a_leader_is_never_restarted() -> None:
    monitor = StagnationMonitor(CONFIG, num_islands=2)
    monitor.start(1.0)
    feed(monitor, [(3, 3)] * 10)
    assert monitor.temperature(0) == 2.0
    monitor.observe(0, (3, 3), 5.0, never_leads)
    assert monitor.temperature(0) == 1.0
    leader = StagnationMonitor(CONFIG, num_islands=2)
    leader.start(1.0)
    kinds = [
        action.kind
        for _ in range(60)
        if (action := leader.observe(0, (3, 3), 0.5, lambda island: True)) is not None
    ]
    assert kinds == ["anneal", "anneal"]  # then nothing: it holds the global best


def test_disabled_or_single_island_never_restarts() -> None:
    off = StagnationMonitor(StagnationConfig(enabled=False), num_islands=2)
    off.start(1.0)
    assert feed(off, [(3, 3)] * 100) == [] and off.temperature(0) == 1.0
    single = StagnationMonitor(CONFIG, num_islands=1)
    single.start(1.0)
    assert [a.kind for a in feed(single, [(3, 3)] * 100)] == ["anneal", "anneal"]


def test_state_round_trip_continues_identically() -> None:
    first = StagnationMonitor(CONFIG, num_islands=2)
    first.start(1.0)
    feed(first, [(3, 3)] * 7)
    copy = StagnationMonitor(CONFIG, num_islands=2)
    copy.load_state(first.state())
    assert [a.kind for a in feed(first, [(3, 3)] * 5)] == [a.kind for a in feed(copy, [(3, 3)] * 5)]
    assert first.state() == copy.state()
    with pytest.raises(ValueError, match="islands"):
        StagnationMonitor(CONFIG, num_islands=3).load_state(first.state())


def test_an_island_holding_a_global_best_of_zero_is_never_restarted() -> None:
    """The engine asks the archive whether an island holds the global best; a best of
    exactly 0 (cache_eviction's seed scores 0) is a score like any other."""
    features = [FeatureConfig(name="a", bins=4, range=(0.0, 4.0))]
    archive = Archive(ArchiveConfig(num_islands=2, features=features))
    seed = Program(id="seed", code="s", code_hash="s", seq=0, score=0.0, features={"a": 0.0})
    archive.insert(seed, 0)
    archive.insert(
        Program(id="worse", code="w", code_hash="w", seq=1, score=-1.0, features={"a": 1.0}), 1
    )
    best = archive.best()
    assert best is not None and best.score == 0.0
    monitor = StagnationMonitor(CONFIG, num_islands=2)
    monitor.start(0.0)
    kinds = [
        action.kind
        for _ in range(60)
        if (
            action := monitor.observe(
                0, (3, 3), 0.0, lambda island: archive.reaches(island, best.score or 0.0)
            )
        )
        is not None
    ]
    assert kinds == ["anneal", "anneal"]  # island 0 holds the best: never restarted


def test_restart_island_rebuilds_its_grid_from_the_elites() -> None:
    features = [FeatureConfig(name="a", bins=4, range=(0.0, 4.0))]
    archive = Archive(ArchiveConfig(num_islands=2, features=features, elite_size=3))

    def prog(pid: str, score: float, a: float) -> Program:
        return Program(
            id=pid, code=pid, code_hash=pid, seq=int(score), score=score, features={"a": a}
        )

    for k in range(4):
        archive.insert(prog(f"x{k}", float(k), float(k)), 0)
    archive.insert(prog("y", 10.0, 0.5), 1)
    elites = archive.global_elites()
    archive.restart_island(0, elites)
    assert {p.id for p in archive.elites(0)} == {"y", "x3", "x2"}
    assert "x0" not in archive.programs_by_id  # left every grid and the global set
    assert {p.id for p in archive.elites(1)} == {"y"}


def test_state_json_is_the_state_encoded_after_every_change() -> None:
    monitor = StagnationMonitor(CONFIG, num_islands=3)
    assert json.loads(monitor.state_json()) == monitor.state()
    monitor.start(1.0)
    assert json.loads(monitor.state_json()) == monitor.state()
    for step in range(60):
        island = step % 3
        monitor.observe(island, (step % 2, 1) if step % 5 else None, 0.5 + step / 1000, never_leads)
        assert json.loads(monitor.state_json()) == monitor.state()
        # the very text of the whole state encoded at once: what earlier runs stored
        assert monitor.state_json() == json.dumps(monitor.state(), sort_keys=True)
        if step == 30:
            monitor.restarted(1, 2.0)
            assert json.loads(monitor.state_json()) == monitor.state()
    copy = StagnationMonitor(CONFIG, num_islands=3)
    copy.state_json()
    copy.load_state(monitor.state())
    assert copy.state_json() == monitor.state_json()
