"""A whole run's records, read back against the documented rules of the search.

One sequential run (seed 5, one worker, so nothing is in flight when a choice is made) on
curve_fit, whose scores are negative (``-error``), with three islands, a short
migration interval and an eager stagnation response. From its database alone:

- every child's reward is what the documented rule (:mod:`evoforge.selection.rewards`)
  gives for its stored insert outcome, its score, its parent's and the best before it;
- both bandits' stored lifetime statistics are the sums of those rewards over the
  children that paid them;
- every operator and parent source chosen is UCB1's choice (each arm once in order, then
  the highest mean + c * sqrt(2 ln N / n), the earlier arm on a tie) given the rewards
  before it;
- children go to the islands in turn, migration happens after every
  ``migration_interval * num_islands`` children and moves island i's elites to i + 1;
- an island is annealed exactly when its window is full, its best has not moved for
  ``patience`` children (nor has it been acted on for as many), the cell entropy of its
  window is below the threshold and its temperature is below the highest, and restarted
  exactly when all that holds at the highest temperature and it does not hold the
  global best.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import evoforge
from evoforge.archive.islands import Archive
from evoforge.config import validate_config
from evoforge.program import Program
from evoforge.selection.rewards import reward_from_outcome
from evoforge.storage.db import RunDatabase, StoredStep

ISLANDS = 3
INTERVAL = 2
WINDOW, PATIENCE, THRESHOLD, FACTOR, HIGHEST = 4, 2, 1.0, 2.0, 2.0
CONFIG: dict[str, Any] = {
    "archive": {
        "num_islands": ISLANDS,
        "migration_interval": INTERVAL,
        "stagnation": {
            "window": WINDOW,
            "entropy_threshold": THRESHOLD,
            "patience": PATIENCE,
            "anneal_factor": FACTOR,
            "max_temperature": HIGHEST,
            "restart_elites": 2,
        },
    },
    "run": {"simplify_best": False},
}
CHILDREN = 40


def _records(run_dir: Path) -> tuple[list[StoredStep], dict[int, list[tuple[str, Any]]], Any]:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        steps = list(db.steps())
        events: dict[int, list[tuple[str, Any]]] = defaultdict(list)
        for event in db.events():
            events[event.seq].append((event.kind, event.payload))
        states = {key: db.get_state(key) for key in ("bandit", "parent_bandit")}
        states["config"] = validate_config(json.loads(db.get_meta("config") or "{}"))
        return steps, events, states
    finally:
        db.close()


def _ucb1_choices(arms: list[str], pulls: list[tuple[str, float]], c: float) -> list[str]:
    """What UCB1 picks before each of ``pulls`` (arm, reward), nothing in flight."""
    counts = dict.fromkeys(arms, 0)
    sums = dict.fromkeys(arms, 0.0)
    choices = []
    for arm, reward in pulls:
        untried = [name for name in arms if counts[name] == 0]
        if untried:
            choices.append(untried[0])
        else:
            total = sum(counts.values())
            values = [
                sums[name] / counts[name] + c * math.sqrt(2 * math.log(total) / counts[name])
                for name in arms
            ]
            choices.append(arms[values.index(max(values))])
        counts[arm] += 1
        sums[arm] += reward
    return choices


def _entropy(cells: list[tuple[int, ...]]) -> float:
    total = len(cells)
    if total < 2:
        return 0.0
    counts = Counter(cells).values()
    return -sum(n / total * math.log(n / total) for n in counts) / math.log(WINDOW)


def test_a_runs_records_follow_the_documented_search_rules(curve_fit: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    evoforge.run(curve_fit, iterations=CHILDREN, seed=5, workers=1, config=CONFIG, out=run_dir)
    steps, events, states = _records(run_dir)
    programs = {step.program.id: step.program for step in steps}
    children = steps[1:]
    assert len(children) == CHILDREN
    assert steps[0].program.score is not None and steps[0].program.score < 0

    # rewards: the documented rule on the stored outcome, with the best before each child
    best = steps[0].program.score
    for step in children:
        child = step.program
        parent = programs[child.parent_id or ""]
        expected = reward_from_outcome(
            step.outcome,
            child_score=child.score,
            parent_score=parent.score,
            best_score_before=best,
        )
        assert step.reward == expected, child.id
        if child.score is not None and child.score > best:
            best = child.score
    assert any((step.reward or 0.0) > 0 for step in children)

    # the bandits' stored statistics are the sums over the children that paid them
    for key, arm_of in (("bandit", "operator"), ("parent_bandit", "parent_source")):
        state = states[key]
        uses: Counter[str] = Counter()
        successes: Counter[str] = Counter()
        totals: dict[str, float] = defaultdict(float)
        for step in children:
            arm = getattr(step.program, arm_of)
            uses[arm] += 1
            successes[arm] += (step.reward or 0.0) > 0
            totals[arm] += step.reward or 0.0
        assert set(uses) <= set(state["arms"])
        for arm in state["arms"]:
            record = state["records"][arm]
            assert (record["uses"], record["successes"]) == (uses[arm], successes[arm]), arm
            assert math.isclose(record["total_reward"], totals[arm], abs_tol=1e-12), arm
        # and every choice was UCB1's (exploration constant 1.0, the default)
        pulls = [(getattr(step.program, arm_of), step.reward or 0.0) for step in children]
        chosen = [arm for arm, _ in pulls]
        assert _ucb1_choices(list(state["arms"]), pulls, 1.0) == chosen, key

    # islands in turn; migration after every INTERVAL generations, one step round the ring
    assert [step.program.island for step in children] == [
        (step.program.iteration - 1) % ISLANDS for step in children
    ]
    migrations = {seq for seq, found in events.items() for kind, _ in found if kind == "migration"}
    assert migrations and all(seq % (INTERVAL * ISLANDS) == 0 for seq in migrations)
    for seq in migrations:
        for kind, payload in events[seq]:
            if kind == "migration":
                assert all(m["to"] == (m["from"] + 1) % ISLANDS for m in payload["moves"])

    # stagnation: the documented monitor, replayed beside the archive it reads
    archive = Archive(states["config"].archive)
    seed = steps[0].program
    for island in range(ISLANDS):
        archive.insert(seed, island)
    watches = [
        {"cells": [], "best": seed.score, "since_best": 0, "since_action": 0, "temperature": 1.0}
        for _ in range(ISLANDS)
    ]
    expected_actions: list[tuple[int, str, int]] = []
    recorded_actions: list[tuple[int, str, int]] = []
    for step in children:
        child = step.program
        if step.outcome is not None:
            archive.insert(child, child.island)
        watch = watches[child.island]
        watch["since_action"] += 1
        if child.score is not None and child.score > watch["best"]:
            watch.update(best=child.score, since_best=0, temperature=1.0)
        else:
            watch["since_best"] += 1
        if step.outcome is not None and step.outcome.cell is not None:
            watch["cells"] = [*watch["cells"], tuple(step.outcome.cell)][-WINDOW:]
        if (
            len(watch["cells"]) == WINDOW
            and watch["since_best"] >= PATIENCE
            and watch["since_action"] >= PATIENCE
            and _entropy(watch["cells"]) < THRESHOLD
        ):
            best_program = archive.best()
            assert best_program is not None and best_program.score is not None
            leads = any(
                p.score is not None and p.score >= best_program.score
                for p in archive.elites(child.island)
            )
            if watch["temperature"] < HIGHEST:
                watch.update(temperature=min(HIGHEST, watch["temperature"] * FACTOR))
                watch["since_action"] = 0
                expected_actions.append((child.seq, "anneal", child.island))
            elif not leads:
                watch["since_action"] = 0
                expected_actions.append((child.seq, "island_restart", child.island))
        for kind, payload in events.get(child.seq, []):
            if kind in ("anneal", "island_restart"):
                recorded_actions.append((child.seq, kind, payload["island"]))
            if kind == "island_restart":
                elites = [programs[i] for i in payload["program_ids"]]
                assert [p.id for p in elites] == [p.id for p in archive.global_elites()[:2]]
                archive.restart_island(payload["island"], elites)
                watches[payload["island"]] = {
                    "cells": [],
                    "best": elites[0].score,
                    "since_best": 0,
                    "since_action": 0,
                    "temperature": 1.0,
                }
            if kind == "migration":
                for move in payload["moves"]:
                    moved: Program = programs[move["program_id"]]
                    archive.insert(moved, move["to"])
    assert {kind for _, kind, _ in recorded_actions} == {"anneal", "island_restart"}
    assert recorded_actions == expected_actions
